"""Shutdown never hangs on open websockets: streaming, paused, or not reading at all."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import time

from .support import LINE, LiveServer, masked_frame, raw_ws, recv_until, send

GRACE = 1  # DESCENT_LAB_GRACEFUL_SHUTDOWN_SECONDS for this server
BOUND = 20.0  # a hang would last forever; this only bounds the test's own wait


def test_sigterm_with_open_sessions_ends_the_server(tmp_path):
    env = {"DESCENT_LAB_DATA_DIR": str(tmp_path / "data"),
           "DESCENT_LAB_GRACEFUL_SHUTDOWN_SECONDS": str(GRACE)}
    server = LiveServer(tmp_path / "server.log", env).start()
    proc = server.proc
    stack = contextlib.ExitStack()
    streaming = stack.enter_context(server.ws())
    paused = stack.enter_context(server.ws())
    laggard = raw_ws(server, rcvbuf=4096)
    try:
        send(streaming, type="start", config={**LINE, "epochs": 10_000}, epochs_per_second=5)
        recv_until(streaming, "epochs")
        send(paused, type="start", config={**LINE, "epochs": 10_000}, paused=True)
        recv_until(paused, "epochs")
        laggard.sendall(masked_frame(json.dumps({
            "type": "start", "epochs_per_second": "max",
            "config": {**LINE, "epochs": 10_000, "batch_size": 1,
                       "record_batches": True}}).encode()))
        server.wait_health(lambda h: h["sessions"] == 3, 10)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(BOUND)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError(f"the server hung on shutdown:\n{server.log()}") from None
        waited = time.monotonic() - t0
        # uvicorn re-raises the signal it handled once it has shut down cleanly
        assert code in (0, -signal.SIGTERM), server.log()
        assert "Finished server process" in server.log()
        log = server.log()
        assert "Task was destroyed but it is pending" not in log
        assert "never retrieved" not in log
        assert "Traceback" not in log
        print(f"shutdown with 3 open sessions took {waited:.2f} s (grace {GRACE} s)")
    finally:
        laggard.close()
        with contextlib.suppress(Exception):
            stack.close()
        server.proc = None
        if proc.poll() is None:
            proc.kill()
            proc.wait(BOUND)

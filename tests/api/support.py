"""Helpers for the web-layer tests: a real uvicorn server in a subprocess, strict JSON,
websocket helpers and a raw websocket client that can stop reading."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parents[2]
LEAK_MARKERS = ("Task was destroyed but it is pending", "never retrieved")
START_SECONDS = 30.0  # bound on waiting for a server to answer /healthz
STOP_SECONDS = 15.0  # bound on waiting for a graceful stop before SIGKILL
RECV_SECONDS = 10.0  # bound on waiting for one websocket message


# --- strict JSON --------------------------------------------------------------------------------


def _reject_constant(token: str) -> Any:
    raise ValueError(f"non-standard JSON token {token}")


def strict_loads(text: str | bytes) -> Any:
    """``json.loads`` that refuses NaN, Infinity and -Infinity (as a browser's JSON.parse)."""
    return json.loads(text, parse_constant=_reject_constant)


def strict_json(response: httpx.Response) -> Any:
    assert response.headers["content-type"].startswith("application/json"), response.headers
    return strict_loads(response.content)


# --- the live server ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """A uvicorn subprocess serving the app on 127.0.0.1, its log captured to ``log_path``.

    ``factory=False`` runs ``python -m app.cli serve`` (as deployed); ``factory=True`` runs
    ``uvicorn app.main:create_app --factory`` (the app's own limits without uvicorn's).
    """

    def __init__(self, log_path: Path, env: dict[str, str], factory: bool = False) -> None:
        self.log_path = log_path
        self.env = env
        self.factory = factory
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/train"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> LiveServer:
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", **self.env}
        env = {k: v for k, v in env.items() if not (k.startswith("DESCENT_LAB_")
                                                    and k not in self.env)}
        if self.factory:
            cmd = [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory",
                   "--host", "127.0.0.1", "--port", str(self.port)]
        else:
            cmd = [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1",
                   "--port", str(self.port)]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_SECONDS
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited ({self.proc.returncode}):\n{self.log()}")
            try:
                r = httpx.get(self.url + "/healthz", timeout=1.0, trust_env=False)
                if r.status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the server did not answer in {START_SECONDS} s:\n"
                                   f"{self.log()}")
            time.sleep(0.1)

    def stop(self) -> None:
        """SIGTERM (uvicorn's graceful shutdown), then SIGKILL if it has not ended."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        try:
            proc.send_signal(signal.SIGTERM)
            proc.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            pass
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(STOP_SECONDS)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def leaks(self) -> list[str]:
        return [line for line in self.log().splitlines()
                if any(m in line for m in LEAK_MARKERS)]

    # --- probes ---------------------------------------------------------------------------

    def healthz(self) -> dict[str, Any]:
        r = httpx.get(self.url + "/healthz", timeout=5.0, trust_env=False)
        assert r.status_code == 200
        return strict_loads(r.content)

    def wait_health(self, ok: Callable[[dict], bool], seconds: float = 15.0) -> dict[str, Any]:
        """Poll /healthz (bounded in count and time) until ``ok`` holds; return the last."""
        deadline = time.monotonic() + seconds
        for _ in range(int(seconds / 0.05) + 1):
            h = self.healthz()
            if ok(h) or time.monotonic() > deadline:
                return h
            time.sleep(0.05)
        return h

    def wait_idle(self, baseline_tasks: int, seconds: float = 15.0) -> dict[str, Any]:
        h = self.wait_health(lambda h: h["sessions"] == 0 and h["tasks"] <= baseline_tasks,
                             seconds)
        assert h["sessions"] == 0, h
        assert h["tasks"] <= baseline_tasks, h
        return h

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30.0, trust_env=False)

    def ws(self, **kwargs: Any) -> ClientConnection:
        kwargs.setdefault("max_size", None)
        return connect(self.ws_url, open_timeout=10, close_timeout=5, proxy=None, **kwargs)


@contextlib.contextmanager
def live_server(log_path: Path, env: dict[str, str], factory: bool = False
                ) -> Iterator[LiveServer]:
    server = LiveServer(log_path, env, factory)
    try:
        yield server.start()
    finally:
        server.stop()


# --- websocket helpers --------------------------------------------------------------------------


def recv(ws: ClientConnection, seconds: float = RECV_SECONDS) -> dict[str, Any]:
    """The next message, parsed strictly (text frames only)."""
    raw = ws.recv(timeout=seconds)
    assert isinstance(raw, str), f"a binary frame from the server: {raw!r}"
    return strict_loads(raw)


def recv_until(ws: ClientConnection, kinds: str | tuple[str, ...], limit: int = 100_000,
               seconds: float = 60.0) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Read messages until one of type ``kinds``; returns it and every message before it.
    Bounded in count and time."""
    kinds = (kinds,) if isinstance(kinds, str) else kinds
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + seconds
    for _ in range(limit):
        msg = recv(ws, max(0.1, min(RECV_SECONDS, deadline - time.monotonic())))
        if msg["type"] in kinds:
            return msg, seen
        seen.append(msg)
    raise AssertionError(f"no {kinds} message in {limit} messages; last: {seen[-3:]}")


def records_of(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for m in messages if m["type"] == "epochs" for r in m["records"]]


def send(ws: ClientConnection, **message: Any) -> None:
    ws.send(json.dumps(message, allow_nan=False))


# --- a raw websocket client that can stop reading -----------------------------------------------


def masked_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """One final client frame (masked, as RFC 6455 requires of clients)."""
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def raw_ws(server: LiveServer, rcvbuf: int | None = 4096) -> socket.socket:
    """A TCP socket with the websocket handshake done by hand (status 101 checked)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(10.0)
    s.connect(("127.0.0.1", server.port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET /ws/train HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
               "Upgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    for _ in range(16_384):
        if b"\r\n\r\n" in head:
            break
        chunk = s.recv(1)
        if not chunk:
            break
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    return s


def reset(s: socket.socket) -> None:
    """Close with a TCP reset (SO_LINGER on, timeout 0) instead of a FIN."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


LINE = {"dataset": "line", "model": "linear"}

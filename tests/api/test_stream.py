"""The websocket /ws/train against a real uvicorn server, with real clients.

Slow and vanishing clients, pause/step/stop at full speed, strict JSON frames, identical
trajectories over REST and the websocket, and bad messages that leave the connection usable.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from .support import (
    LINE,
    LiveServer,
    masked_frame,
    raw_ws,
    records_of,
    recv,
    recv_until,
    reset,
    send,
    strict_json,
)

# A run whose epochs are cheap (computed on the event loop) and one heavy enough that the
# server computes each epoch in a worker thread (rows x (batches + 1) > 300,000). Both last
# seconds at full speed, longer than any test lets them run.
LIGHT = {**LINE, "batch_size": 1, "epochs": 10_000}
HEAVY = {**LINE, "dataset_options": {"n": 20_000}, "batch_size": 200, "epochs": 10_000}
SPEEDS = pytest.mark.parametrize("config", [LIGHT, HEAVY], ids=["light", "heavy"])


def quiet_for(ws, seconds: float) -> list[dict[str, Any]]:
    """Every message that arrives within ``seconds`` (a bounded wait)."""
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + seconds
    for _ in range(10_000):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            got.append(recv(ws, left))
        except TimeoutError:
            break
    return got


def summary(messages: list[dict[str, Any]]) -> list[str]:
    """Short descriptions of messages for assertion output."""
    return [f"{m['type']} {[r['epoch'] for r in m['records']][:5]}..." if m["type"] == "epochs"
            else str(m)[:200] for m in messages[:5]]


def assert_contiguous(records: list[dict[str, Any]], first: int = 0) -> None:
    assert [r["epoch"] for r in records] == list(range(first, first + len(records)))


def all_finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(all_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(all_finite(v) for v in value)
    return True


# --- a client that stops reading ---------------------------------------------------------------


def start_and_never_read(server: LiveServer, speed: str | float = "max"):
    s = raw_ws(server, rcvbuf=4096)
    cfg = {**LINE, "batch_size": 1, "epochs": 10_000, "record_batches": True}
    s.sendall(masked_frame(strict_json_bytes({"type": "start", "epochs_per_second": speed,
                                              "config": cfg})))
    return s


def strict_json_bytes(value: Any) -> bytes:
    return json.dumps(value, allow_nan=False).encode()


def read_to_eof(s, limit_bytes: int = 64 << 20) -> int:
    """Read what the server had sent until it closes the connection (bounded)."""
    total = 0
    s.settimeout(10.0)
    while total < limit_bytes:
        try:
            chunk = s.recv(1 << 20)
        except ConnectionResetError:
            return total
        if not chunk:
            return total
        total += len(chunk)
    raise AssertionError(f"still open after {total} bytes")


def test_a_client_that_stops_reading_is_closed_and_memory_stays_flat(server: LiveServer):
    baseline = server.wait_health(lambda h: h["sessions"] == 0)["tasks"]
    closed_before = server.log().count("closing a slow client")
    with server.ws() as ws:  # warm up: a full run, so first-use allocations are not counted
        send(ws, type="start", config={**LINE, "epochs": 300, "record_batches": True},
             epochs_per_second="max")
        recv_until(ws, "done")
    rss_before = server.rss_kb()

    # "max" paces the run to the client; at a fixed speed, records pile up for the laggard.
    for speed in ("max", 10_000):
        sockets = [start_and_never_read(server, speed) for _ in range(3)]
        try:
            h = server.wait_health(lambda h: h["sessions"] == 3, 10)
            assert h["sessions"] == 3, h
            # Meanwhile another client is served: training never waits on the laggards.
            with server.ws() as ws:
                send(ws, type="start", config={**LINE, "epochs": 200}, epochs_per_second="max")
                done, seen = recv_until(ws, "done")
                assert done["stop_reason"] == "max_epochs"
                assert_contiguous(records_of(seen))
            # Each laggard is closed once a send has waited for the send timeout (1 s) ...
            server.wait_idle(baseline, seconds=30)
            for s in sockets:  # ... and its TCP connection is closed too
                assert read_to_eof(s) > 0
        finally:
            for s in sockets:
                s.close()

    growth_mb = (server.rss_kb() - rss_before) / 1024
    assert growth_mb < 50, f"server memory grew by {growth_mb:.1f} MB"
    assert server.log().count("closing a slow client") - closed_before == 6
    print(f"server memory growth after 6 laggards: {growth_mb:.1f} MB")
    assert server.healthz()["status"] == "ok"


# --- clients that leave ------------------------------------------------------------------------


def assert_training_stopped(server: LiveServer, baseline: int) -> None:
    """No session or task is left, and the server no longer burns CPU on the run."""
    server.wait_idle(baseline)
    before = server.cpu_seconds()
    time.sleep(1.0)
    used = server.cpu_seconds() - before
    assert used < 0.3, f"the server used {used:.2f} s of CPU in 1 s after the client left"


@SPEEDS
@pytest.mark.parametrize("how", ["close", "reset", "close-paused", "reset-paused"])
def test_a_client_that_leaves_stops_its_training(server: LiveServer, config: dict, how: str):
    baseline = server.wait_health(lambda h: h["sessions"] == 0)["tasks"]
    if how.startswith("close"):
        with server.ws() as ws:
            send(ws, type="start", config=config, epochs_per_second="max")
            recv_until(ws, "epochs")
            if how.endswith("paused"):
                send(ws, type="pause")
                recv_until(ws, "paused")
            assert server.healthz()["sessions"] == 1
    else:
        s = raw_ws(server, rcvbuf=None)
        s.sendall(masked_frame(b'{"type": "start", "epochs_per_second": "max", "config": '
                               + strict_json_bytes(config) + b"}"))
        s.recv(4096)  # the run has started
        if how.endswith("paused"):
            s.sendall(masked_frame(b'{"type": "pause"}'))
            time.sleep(0.2)
        assert server.healthz()["sessions"] == 1
        reset(s)
    assert_training_stopped(server, baseline)


def test_no_task_was_leaked_so_far(server: LiveServer):
    """The session fixture checks the whole log at shutdown; this checks it mid-session too."""
    assert server.leaks() == []


# --- pause, step, resume, stop at full speed ---------------------------------------------------


@SPEEDS
def test_pause_step_resume_and_stop_are_obeyed_at_max_speed(server: LiveServer, config: dict):
    with server.ws() as ws:
        send(ws, type="start", config=config, epochs_per_second="max")
        started = recv(ws)
        assert started["type"] == "started" and started["epochs_per_second"] == "max"
        records: list[dict] = []
        for _ in range(5):
            first, _ = recv_until(ws, "epochs")  # running
            records += records_of([first])
            send(ws, type="pause")
            paused, before = recv_until(ws, "paused")
            records += records_of(before)
            assert paused["epoch"] == records[-1]["epoch"]
            late = quiet_for(ws, 0.3)
            assert late == [], f"after 'paused' {paused}: {summary(late)}"
            send(ws, type="step", epochs=3)
            stepped = quiet_for(ws, 0.5)
            assert [m["type"] for m in stepped] and all(m["type"] == "epochs" for m in stepped)
            records += records_of(stepped)
            assert records[-1]["epoch"] == paused["epoch"] + 3
            send(ws, type="resume")
            resumed, seen = recv_until(ws, "resumed")
            records += records_of(seen)
            assert resumed["epoch"] == paused["epoch"] + 3
            records += records_of([recv_until(ws, "epochs")[0]])
        send(ws, type="stop")
        done, seen = recv_until(ws, "done")
        records += records_of(seen)
        assert done["stop_reason"] == "stopped"
        assert done["record"] == records[-1]
        assert_contiguous(records)
        assert records[-1]["epoch"] < config["epochs"]
        # The connection takes a new run after a stop.
        send(ws, type="start", config={**LINE, "epochs": 5}, epochs_per_second="max")
        done, seen = recv_until(ws, "done")
        assert done["stop_reason"] == "max_epochs"
        assert_contiguous(records_of(seen))


# --- strict JSON -------------------------------------------------------------------------------


def test_a_diverging_run_ends_with_done_and_finite_numbers(server: LiveServer, http):
    config = {**LINE, "learning_rate": 10, "epochs": 500, "record_batches": True}
    with server.ws() as ws:
        send(ws, type="start", config=config, epochs_per_second="max")
        done, seen = recv_until(ws, "done")  # recv() parses every frame strictly
    assert done["stop_reason"] == "diverged"
    records = records_of(seen)
    assert records[-1]["stop_reason"] == "diverged"
    assert all_finite(seen) and all_finite(done)

    r = http.post("/api/runs", json=config)
    assert r.status_code == 200
    body = strict_json(r)
    assert body["stop_reason"] == "diverged" and all_finite(body)
    assert body["records"] == records
    csv = http.post("/api/runs", params={"format": "csv"}, json=config)
    assert csv.status_code == 200
    assert not any(t in csv.text.lower() for t in ("nan", "inf"))


# --- one trajectory whatever the interface -----------------------------------------------------


@pytest.mark.parametrize("config", [
    {**LINE, "dataset_options": {"n": 60, "noise": 0.7, "seed": 4}, "optimizer": "adam",
     "batch_size": 7, "epochs": 60, "seed": 11, "start": "random", "record_batches": True},
    {**HEAVY, "optimizer": "momentum", "epochs": 60, "seed": 2},
    {"dataset": "cats-dogs", "model": "logistic", "optimizer": "rmsprop", "epochs": 80,
     "learning_rate": 0.05, "dataset_options": {"validation_split": 0.25}},
], ids=["adam-minibatch", "heavy", "logistic"])
def test_rest_and_websocket_give_identical_trajectories(server: LiveServer, http, config):
    r = http.post("/api/runs", json=config)
    assert r.status_code == 200, r.text
    expected = strict_json(r)["records"]

    with server.ws() as ws:
        send(ws, type="start", config=config, epochs_per_second=100, paused=True)
        assert recv(ws)["type"] == "started"
        got = records_of(quiet_for(ws, 0.3))  # the starting point
        send(ws, type="step", epochs=5)
        send(ws, type="step")
        got += records_of(quiet_for(ws, 0.5))
        send(ws, type="resume")
        _, seen = recv_until(ws, "resumed")
        got += records_of(seen)
        got += records_of(quiet_for(ws, 0.05))
        send(ws, type="pause")
        _, seen = recv_until(ws, "paused")
        got += records_of(seen)
        send(ws, type="step", epochs=2)
        got += records_of(quiet_for(ws, 0.3))
        send(ws, type="speed", epochs_per_second="max")
        send(ws, type="resume")
        done, seen = recv_until(ws, "done")
        got += records_of(seen)
    assert done["stop_reason"] == strict_json(r)["stop_reason"]
    assert len(got) == len(expected)
    for mine, theirs in zip(got, expected, strict=True):
        assert mine == theirs  # params, loss, grad, ... bit for bit


# --- changing the learning rate mid-run ---------------------------------------------------------


@SPEEDS
def test_set_learning_rate_applies_from_the_epoch_it_names(server: LiveServer, config: dict):
    rates = [0.05, 0.02, 0.07, 0.01, 0.03]
    with server.ws() as ws:
        send(ws, type="start", config={**config, "learning_rate": 0.1},
             epochs_per_second="max")
        replies, records = [], []
        for lr in rates:
            first, seen = recv_until(ws, "epochs")
            records += records_of([*seen, first])
            send(ws, type="set", learning_rate=lr)
            reply, seen = recv_until(ws, "set")
            records += records_of(seen)
            assert reply["learning_rate"] == lr
            replies.append(reply)
        records += records_of([recv_until(ws, "epochs")[0]])
        send(ws, type="stop")
        _, seen = recv_until(ws, "done")
        records += records_of(seen)
    for reply in replies:
        firsts = [r["epoch"] for r in records if r["learning_rate"] == reply["learning_rate"]]
        assert firsts, reply
        assert firsts[0] == reply["from_epoch"], (reply, firsts[:3])
    assert records[0]["epoch"] == 0 and records[0]["learning_rate"] == 0.1


# --- bad messages: an error naming the field, and the connection still works -------------------

GOOD_START = {"type": "start", "config": {**LINE, "epochs": 3}, "epochs_per_second": "max"}
BAD_MESSAGES = [
    ("{not json", None, "malformed_json"),
    ('{"type": "start", "config": {"dataset": "line", "model": "linear", '
     '"learning_rate": NaN}}', None, "malformed_json"),
    ('{"type": "set", "learning_rate": Infinity}', None, "malformed_json"),
    ("[1, 2]", None, "type"),
    ("[" * 30_000, None, "malformed_json"),
    ('{"type": "step", "epochs": ' + "9" * 5000 + "}", None, "malformed_json"),
    ('"start"', None, "type"),
    ('{"type": "jump"}', "type", "unknown_type"),
    ('{"kind": "start"}', "type", "unknown_type"),
    ('{"type": "start", "config": {}, "extra": 1}', "extra", "unknown_field"),
    ('{"type": "start"}', "config", "missing"),
    ('{"type": "start", "config": "line"}', "config", "type"),
    ('{"type": "start", "config": {"dataset": "line", "model": "linear"}, "paused": 1}',
     "paused", "type"),
    ('{"type": "start", "config": {"dataset": "line", "model": "linear"}, '
     '"epochs_per_second": 0}', "epochs_per_second", "out_of_range"),
    ('{"type": "start", "config": {"dataset": "line", "model": "linear"}, '
     '"epochs_per_second": "fast"}', "epochs_per_second", "type"),
    ('{"type": "start", "config": {"dataset": "line", "model": "linear", '
     '"learning_rate": 1e400}}', "config.learning_rate", None),
    ('{"type": "start", "config": {"dataset": "line", "model": "linear", '
     '"start": [-1e999, 0]}}', "config.start[0]", None),
    ('{"type": "pause"}', "type", "no_run"),
    ('{"type": "step", "epochs": 2}', "type", "no_run"),
]
BAD_CONFIGS = [
    ({"learning_rate": 0}, "learning_rate"),
    ({"learning_rate": -1}, "learning_rate"),
    ({"learning_rate": 10.5}, "learning_rate"),
    ({"learning_rate": "0.1"}, "learning_rate"),
    ({"epochs": 10_001}, "epochs"),
    ({"epochs": True}, "epochs"),
    ({"epochs": 2.5}, "epochs"),
    ({"epochs": "10"}, "epochs"),
    ({"batch_size": 0}, "batch_size"),
    ({"batch_size": 81}, "batch_size"),
    ({"batch_size": True}, "batch_size"),
    ({"seed": -1}, "seed"),
    ({"dataset": "nope"}, "dataset"),
    ({"model": "nope"}, "model"),
    ({"optimizer": "nope"}, "optimizer"),
    ({"loss": "nope"}, "loss"),
    ({"model": "logistic"}, "dataset"),  # line has real-valued targets
    ({"loss": "cross-entropy"}, "loss"),
    ({"dataset": "rosenbrock"}, "model"),
    ({"start": [1]}, "start"),
    ({"start": [1e300, 0]}, "start[0]"),
    ({"optimizer_options": {"momentum": -1}}, "optimizer_options.momentum"),
    ({"optimizer": "adam", "optimizer_options": {"betas": [0.9, 2]}},
     "optimizer_options.betas[1]"),
    ({"dataset_options": {"n": 0}}, "dataset_options.n"),
    ({"dataset_options": {"n": True}}, "dataset_options.n"),
    ({"dataset_options": {"noise": "a lot"}}, "dataset_options.noise"),
    ({"dataset_options": {"bogus": 1}}, "dataset_options.bogus"),
    ({"dataset_options": {"validation_split": 0}, "stop": {"patience": 3}}, "stop.patience"),
    ({"stop": {"tolerance": 0}}, "stop.tolerance"),
    ({"record_batches": 1}, "record_batches"),
    ({"colour": "red"}, "colour"),
]


def test_bad_messages_get_an_error_and_the_connection_still_works(server: LiveServer):
    with server.ws() as ws:
        for text, field, code in BAD_MESSAGES:
            ws.send(text)
            msg = recv(ws)
            assert msg["type"] == "error", (text, msg)
            if code is not None:
                assert msg["code"] == code, (text, msg)
            if field is not None:
                assert msg["field"] == field, (text, msg)
        ws.send(b'{"type": "start"}')  # a binary frame
        msg = recv(ws)
        assert msg["type"] == "error" and msg["code"] == "binary_frame", msg
        for change, field in BAD_CONFIGS:
            send(ws, type="start", config={**LINE, **change})
            msg = recv(ws)
            assert msg["type"] == "error", (change, msg)
            assert msg["field"] == f"config.{field}", (change, msg)
            assert msg["message"], msg
        send(ws, **GOOD_START)
        assert recv(ws)["type"] == "started"
        done, seen = recv_until(ws, "done")
        assert done["stop_reason"] == "max_epochs"
        assert_contiguous(records_of(seen))
        # errors during a run do not end it
        send(ws, type="start", config={**LINE, "epochs": 10_000}, epochs_per_second=50)
        recv_until(ws, "started")
        for text in ('{"type": "set", "learning_rate": 0}', '{"type": "set"}',
                     '{"type": "step", "epochs": 0}', '{"type": "step", "epochs": true}',
                     '{"type": "speed", "epochs_per_second": -1}', json.dumps(GOOD_START)):
            ws.send(text)
            msg, _ = recv_until(ws, "error")
        send(ws, type="stop")
        done, _ = recv_until(ws, "done")
        assert done["stop_reason"] == "stopped"
        send(ws, **GOOD_START)
        done, _ = recv_until(ws, "done")
        assert done["stop_reason"] == "max_epochs"


def test_an_oversized_message_closes_with_1009_and_the_server_goes_on(server: LiveServer):
    with server.ws() as ws:
        ws.send('{"type": "start", "pad": "' + "x" * 200_000 + '"}')
        with pytest.raises(ConnectionClosed) as e:
            recv(ws)
        assert e.value.rcvd is not None and e.value.rcvd.code == 1009
    with server.ws() as ws:
        send(ws, **GOOD_START)
        assert recv_until(ws, "done")[0]["stop_reason"] == "max_epochs"


# --- origin -------------------------------------------------------------------------------------


def test_the_websocket_checks_the_origin(server: LiveServer):
    for origin in ("http://evil.example", "http://127.0.0.1:1", "null",
                   f"https://evil.example:{server.port}"):
        with pytest.raises(InvalidStatus) as e:
            server.ws(origin=origin)
        assert e.value.response.status_code == 403, origin
    for origin in (f"http://127.0.0.1:{server.port}", None):
        with server.ws(origin=origin) as ws:
            send(ws, **GOOD_START)
            assert recv_until(ws, "done")[0]["stop_reason"] == "max_epochs"

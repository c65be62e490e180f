"""Configurable limits, enforced by a real server started with small ones, and a data
directory that outlives the server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from .support import (
    LINE,
    LiveServer,
    live_server,
    masked_frame,
    raw_ws,
    recv,
    recv_until,
    send,
    strict_json,
)

LIMITS = {
    "DESCENT_LAB_MAX_SESSIONS": "2",
    "DESCENT_LAB_MAX_DATASETS": "2",
    "DESCENT_LAB_MAX_EPOCHS": "50",
    "DESCENT_LAB_MAX_RESOLUTION": "20",
    "DESCENT_LAB_MAX_UPLOAD_BYTES": "1000",
    "DESCENT_LAB_MAX_BODY_BYTES": "4096",
    "DESCENT_LAB_MAX_MESSAGE_BYTES": "2048",
    "DESCENT_LAB_CLIENT_BUFFER_BYTES": "300000",
    "DESCENT_LAB_ALLOWED_ORIGINS": "https://app.example, https://other.example",
    "DESCENT_LAB_CORS": "true",
}


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server with small limits, run as ``uvicorn --factory`` so that the app's own message
    limit (not uvicorn's) is the one tested."""
    base = tmp_path_factory.mktemp("small")
    env = {**LIMITS, "DESCENT_LAB_DATA_DIR": str(base / "data")}
    with live_server(base / "server.log", env, factory=True) as s:
        yield s
    assert s.leaks() == [], "\n".join(s.leaks())


def error_of(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, (r.status_code, r.text[:300])
    return strict_json(r)["error"]


def test_the_catalog_reports_the_limits(small: LiveServer):
    with small.client() as http:
        limits = strict_json(http.get("/api/catalog"))["limits"]
    assert limits["max_sessions"] == 2 and limits["max_datasets"] == 2
    assert limits["max_epochs"] == 50 and limits["max_resolution"] == 20
    assert limits["max_upload_bytes"] == 1000 and limits["max_message_bytes"] == 2048


def test_max_sessions(small: LiveServer):
    baseline = small.wait_health(lambda h: h["sessions"] == 0)["tasks"]
    slow = {"type": "start", "config": {**LINE, "epochs": 50}, "epochs_per_second": 1}
    with small.ws() as a, small.ws() as b:
        for ws in (a, b):
            send(ws, **slow)
            assert recv(ws)["type"] == "started"
        assert small.healthz()["sessions"] == 2
        with small.ws() as c:
            msg = recv(c)
            assert msg["type"] == "error" and msg["code"] == "busy", msg
            with pytest.raises(ConnectionClosed) as e:
                recv(c)
            assert e.value.rcvd is not None and e.value.rcvd.code == 1013
        # HTTP keeps answering while the sessions are full
        with small.client() as http:
            assert http.get("/api/catalog").status_code == 200
            assert http.post("/api/runs", json={**LINE, "epochs": 3}).status_code == 200
        assert small.healthz()["sessions"] == 2
    small.wait_idle(baseline)
    with small.ws() as ws:  # a freed slot is taken again
        send(ws, **{**slow, "epochs_per_second": "max"})
        assert recv_until(ws, "done")[0]["stop_reason"] == "max_epochs"


def test_max_epochs_and_resolution(small: LiveServer):
    with small.client() as http:
        assert http.post("/api/runs", json={**LINE, "epochs": 50}).status_code == 200
        err = error_of(http.post("/api/runs", json={**LINE, "epochs": 51}), 422)
        assert err["field"] == "epochs" and "50" in err["message"]
        assert http.post("/api/surface", json={**LINE, "resolution": 20}).status_code == 200
        err = error_of(http.post("/api/surface", json={**LINE, "resolution": 21}), 422)
        assert err["field"] == "resolution" and "20" in err["message"]
    with small.ws() as ws:
        send(ws, type="start", config={**LINE, "epochs": 51})
        msg = recv(ws)
        assert msg["type"] == "error" and msg["field"] == "config.epochs"
        send(ws, type="start", config={**LINE, "epochs": 50}, epochs_per_second="max")
        assert recv_until(ws, "done")[0]["record"]["epoch"] == 50


def test_max_body_and_message_size(small: LiveServer):
    with small.client() as http:
        pad = json.dumps({**LINE, "pad": "x" * 5000})
        assert error_of(http.post("/api/runs", content=pad), 413)["code"] == "too_large"
        assert error_of(http.post("/api/runs", content=pad[:4000] + "}"), 400)
    with small.ws() as ws:
        ws.send(json.dumps({"type": "start", "pad": "x" * 1500}))  # under the limit
        assert recv(ws)["type"] == "error"
        ws.send(json.dumps({"type": "start", "pad": "x" * 3000}))
        with pytest.raises(ConnectionClosed) as e:
            recv(ws)
        assert e.value.rcvd is not None and e.value.rcvd.code == 1009
    with small.ws() as ws:
        send(ws, type="start", config={**LINE, "epochs": 2}, epochs_per_second="max")
        assert recv_until(ws, "done")[0]["stop_reason"] == "max_epochs"


def test_the_outbox_is_bounded_in_bytes(small: LiveServer):
    """A laggard is closed once its queued records pass CLIENT_BUFFER_BYTES, long before the
    (default, 10 s) send timeout; a client that reads is not."""
    baseline = small.wait_health(lambda h: h["sessions"] == 0)["tasks"]
    config = {**LINE, "batch_size": 1, "epochs": 50, "record_batches": True}
    with small.ws() as ws:
        send(ws, type="start", config=config, epochs_per_second=10_000)
        done, seen = recv_until(ws, "done")
        assert done["stop_reason"] == "max_epochs" and len(seen) > 1
    s = raw_ws(small, rcvbuf=4096)
    try:
        # 50 records of 4,000 mini-batch params each: ~7 MB, more than the kernel buffers
        big = {**config, "dataset_options": {"n": 5000}}
        s.sendall(masked_frame(json.dumps({"type": "start", "epochs_per_second": 10_000,
                                           "config": big}).encode()))
        small.wait_idle(baseline, seconds=8)
    finally:
        s.close()
    closes = [line for line in small.log().splitlines() if "closing a slow client" in line]
    assert len(closes) == 1 and "bytes) waiting" in closes[0], closes


def test_configured_origins_open_the_websocket_and_get_cors(small: LiveServer):
    for origin in ("https://app.example", "https://other.example",
                   f"http://127.0.0.1:{small.port}", None):
        with small.ws(origin=origin) as ws:
            send(ws, type="start", config={**LINE, "epochs": 2}, epochs_per_second="max")
            assert recv_until(ws, "done")[0]["stop_reason"] == "max_epochs"
    with pytest.raises(InvalidStatus) as e:
        small.ws(origin="https://evil.example")
    assert e.value.response.status_code == 403
    with small.client() as http:
        r = http.get("/api/catalog", headers={"origin": "https://app.example"})
        assert r.headers["access-control-allow-origin"] == "https://app.example"
        r = http.options("/api/runs", headers={"origin": "https://app.example",
                                               "access-control-request-method": "POST",
                                               "access-control-request-headers": "content-type"})
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == "https://app.example"
        r = http.get("/api/catalog", headers={"origin": "https://evil.example"})
        assert "access-control-allow-origin" not in r.headers


def csv_bytes(k: int, rows: int = 10) -> bytes:
    return ("x,y\n" + "".join(f"{i},{i * k + 1}\n" for i in range(rows))).encode()


def upload(http: httpx.Client, data: bytes) -> httpx.Response:
    return http.post("/api/datasets", files={"file": ("data.csv", data, "text/csv")})


def test_max_upload_size_and_stored_datasets(small: LiveServer):
    with small.client() as http:
        big = csv_bytes(1, rows=200)
        assert len(big) > 1000
        assert error_of(upload(http, big), 413)["code"] == "too_large"

        names = []
        for k in (1, 2, 3):
            r = upload(http, csv_bytes(k))
            assert r.status_code == 201, r.text
            names.append(strict_json(r)["dataset"])
        assert len(set(names)) == 3
        runs = {name: http.post("/api/runs", json={"dataset": name, "model": "linear",
                                                   "learning_rate": 0.01, "epochs": 2})
                for name in names}
        # the oldest was evicted to make room for the third
        assert error_of(runs[names[0]], 422)["field"] == "dataset"
        assert runs[names[1]].status_code == 200 and runs[names[2]].status_code == 200
        stored = list((Path(small.env["DESCENT_LAB_DATA_DIR"]) / "datasets").glob("*.csv"))
        assert len(stored) == 2


def test_uploads_survive_a_restart(tmp_path: Path):
    env = {"DESCENT_LAB_DATA_DIR": str(tmp_path / "data")}
    data = csv_bytes(5)
    with live_server(tmp_path / "first.log", env) as first, first.client() as http:
        name = strict_json(upload(http, data))["dataset"]
        before = strict_json(http.post("/api/runs", json={"dataset": name, "model": "linear",
                                                          "learning_rate": 0.01}))
    with live_server(tmp_path / "second.log", env) as second, second.client() as http:
        after = http.post("/api/runs", json={"dataset": name, "model": "linear",
                                             "learning_rate": 0.01})
        assert after.status_code == 200, after.text
        assert strict_json(after) == before
        assert strict_json(upload(http, data))["dataset"] == name

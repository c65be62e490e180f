"""Fixtures for the web layer.

The ``server`` fixture (one per test session) starts ``descent-lab serve`` — the production
path — on a free 127.0.0.1 port with a short send timeout and a temporary data directory,
waits for /healthz, captures the server log to a file and, at the end of the session, stops
the server (killing it if it does not stop) and checks the log for leaked asyncio tasks.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from .support import LiveServer, live_server


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The default server, shared by the session; a client that stops reading is closed
    after 1 s. At the end: no leaked task may be reported in its log."""
    base = tmp_path_factory.mktemp("server")
    env = {"DESCENT_LAB_DATA_DIR": str(base / "data"),
           "DESCENT_LAB_SEND_TIMEOUT_SECONDS": "1"}
    with live_server(base / "server.log", env) as s:
        yield s
    assert s.leaks() == [], "\n".join(s.leaks())


@pytest.fixture
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c



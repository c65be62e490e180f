"""Property-based fuzzing of the REST API from its own OpenAPI schema (schemathesis).

A live server with small work limits (so that no generated request trains for long) is
fuzzed over every documented operation: no 5xx, and every response conforms to the schema
(status code, content type, body). The number of examples is bounded to keep this fast.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from app.config import Settings
from app.main import create_app

from .support import LiveServer, live_server

# Small work limits: no generated request trains or grids for long.
LIMITS = {"max_epochs": 300, "max_resolution": 60, "max_run_terms": 3_000_000,
          "max_surface_terms": 20_000_000, "max_datasets": 20}

# The schema comes from the app built with these limits (it documents them); the requests go
# to a live server started with the same limits. (schemathesis.pytest.from_fixture would load
# it from the server, but it fails under pytest 9: Function has no attribute '_nodeid'.)
schema = schemathesis.openapi.from_asgi(
    "/openapi.json", create_app(Settings(**LIMITS, data_dir="/nonexistent")))


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    base = tmp_path_factory.mktemp("fuzz")
    env = {f"DESCENT_LAB_{k.upper()}": str(v) for k, v in LIMITS.items()}
    with live_server(base / "server.log", {**env, "DESCENT_LAB_DATA_DIR": str(base / "data")}
                     ) as s:
        yield s
    assert s.leaks() == [], "\n".join(s.leaks())
    assert "Traceback" not in s.log(), s.log()[-3000:]


@schema.parametrize()
@settings(max_examples=80, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                 HealthCheck.function_scoped_fixture])
def test_the_api_conforms_to_its_schema(case, fuzz_server: LiveServer):
    case.call_and_validate(
        base_url=fuzz_server.url,
        checks=[not_a_server_error, status_code_conformance, content_type_conformance,
                response_schema_conformance],
        timeout=30)

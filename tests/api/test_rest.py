"""The REST API, pages and docs against a real uvicorn server (the session's ``server``)."""

from __future__ import annotations

import csv
import io
import json
import math
from html.parser import HTMLParser

import httpx
import pytest

from .support import LINE, strict_json, strict_loads


def error_of(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, (r.status_code, r.text[:300])
    body = strict_json(r)
    assert set(body) == {"error"}, body
    assert body["error"]["message"], body
    return body["error"]


# --- catalog ------------------------------------------------------------------------------------


def test_catalog_lists_everything_the_menus_need(http: httpx.Client):
    body = strict_json(http.get("/api/catalog"))
    names = {k: {d["name"] for d in body[k]}
             for k in ("datasets", "models", "losses", "optimizers")}
    assert {"line", "cats-dogs", "rosenbrock"} <= names["datasets"]
    assert {"linear", "logistic", "point"} <= names["models"]
    assert {"mse", "cross-entropy"} <= names["losses"]
    assert {"sgd", "momentum", "adam"} <= names["optimizers"]
    limits = body["limits"]
    assert limits["max_epochs"] == 10_000 and limits["max_resolution"] == 400
    assert limits["max_learning_rate"] == 10
    for key in ("max_upload_bytes", "max_datasets", "max_sessions", "max_message_bytes"):
        assert isinstance(limits[key], int) and limits[key] > 0, key
    # every model a dataset lists trains on it
    for d in body["datasets"][:4]:
        for model in d["models"][:1]:
            r = http.post("/api/runs", json={"dataset": d["name"], "model": model, "epochs": 1})
            assert r.status_code == 200, (d["name"], model, r.text)


# --- runs ---------------------------------------------------------------------------------------


def test_a_run_returns_every_epoch_as_json_and_csv(http: httpx.Client):
    config = {**LINE, "optimizer": "adam", "epochs": 25, "batch_size": 16, "seed": 3}
    r = http.post("/api/runs", json=config)
    assert r.status_code == 200
    body = strict_json(r)
    assert body["param_names"] == ["w", "b"]
    assert body["stop_reason"] == "max_epochs"
    assert [rec["epoch"] for rec in body["records"]] == list(range(26))
    assert body["config"]["optimizer"] == "adam" and body["config"]["batch_size"] == 16

    r = http.post("/api/runs", params={"format": "csv"}, json=config)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0][:3] == ["epoch", "w", "b"] and "loss" in rows[0]
    assert len(rows) == 1 + config["epochs"] + 1
    loss = rows[0].index("loss")
    for row, rec in zip(rows[1:], body["records"], strict=True):
        assert int(row[0]) == rec["epoch"]
        assert float(row[loss]) == rec["loss"]


def test_runs_are_reproducible(http: httpx.Client):
    config = {**LINE, "batch_size": 5, "start": "random", "seed": 9, "epochs": 20}
    first = http.post("/api/runs", json=config).json()
    assert http.post("/api/runs", json=config).json() == first
    other = http.post("/api/runs", json={**config, "seed": 10}).json()
    assert other["records"] != first["records"]


# --- surface ------------------------------------------------------------------------------------


@pytest.mark.parametrize("request_", [
    {**LINE, "resolution": 7, "bounds": [[-1.0, 4.0], [0.5, 2.0]]},
    {"dataset": "cats-dogs", "model": "logistic", "resolution": 6,
     "bounds": [[-2.0, 3.0], [-1.0, 0.5]]},
    {"dataset": "himmelblau", "model": "point", "resolution": 5,
     "bounds": [[-4.0, 1.0], [0.0, 3.0]]},
], ids=["linear-mse", "logistic", "function"])
def test_surface_rows_are_ys_and_match_the_trainers_loss(http: httpx.Client, request_: dict):
    r = http.post("/api/surface", json=request_)
    assert r.status_code == 200, r.text
    s = strict_json(r)
    xs, ys = s["axes"]
    n = request_["resolution"]
    assert len(xs) == len(ys) == n
    assert len(s["loss"]) == len(ys) and all(len(row) == len(xs) for row in s["loss"])
    assert xs[0] == request_["bounds"][0][0] and xs[-1] == request_["bounds"][0][1]
    assert ys[0] == request_["bounds"][1][0] and ys[-1] == request_["bounds"][1][1]
    for i, j in ((1, n - 2), (n - 1, 0), (2, 3)):
        run = {k: v for k, v in request_.items() if k not in ("resolution", "bounds")}
        rec = http.post("/api/runs", json={**run, "start": [xs[j], ys[i]], "epochs": 1}
                        ).json()["records"][0]
        assert rec["params"] == [xs[j], ys[i]]
        assert s["loss"][i][j] == pytest.approx(rec["loss"], rel=1e-9, abs=1e-12), (i, j)
    lo = min(v for row in s["loss"] for v in row)
    assert s["grid_min"]["loss"] == lo


def test_identical_surface_requests_are_served_from_the_cache(http: httpx.Client):
    body = {**LINE, "resolution": 33, "bounds": [[-3.0, 3.0], [-2.0, 2.5]]}
    first = http.post("/api/surface", json=body)
    assert first.status_code == 200 and first.headers["x-cache"] == "miss"
    again = http.post("/api/surface", json=body)
    assert again.headers["x-cache"] == "hit" and again.content == first.content
    # the same request spelled differently: another key order, explicit defaults
    same = http.post("/api/surface", content=json.dumps(
        {"bounds": [[-3, 3], [-2, 2.5]], "loss": "mse", "model": "linear", "dataset": "line",
         "resolution": 33, "start": None, "plane": None}))
    assert same.headers["x-cache"] == "hit" and same.content == first.content
    other = http.post("/api/surface", json={**body, "resolution": 34})
    assert other.headers["x-cache"] == "miss"
    # the cache is keyed on the dataset's options too
    noisy = http.post("/api/surface", json={**body, "dataset_options": {"noise": 2.0}})
    assert noisy.headers["x-cache"] == "miss" and noisy.content != first.content


# --- uploads ------------------------------------------------------------------------------------

CSV = b"size,price\n1,2.1\n2,3.9\n3,6.2\n4,8.1\n5,9.8\n6,12.2\n7,14.1\n8,15.8\n"


def upload(http: httpx.Client, data: bytes, name: str = "data.csv",
           ctype: str = "text/csv") -> httpx.Response:
    return http.post("/api/datasets", files={"file": (name, data, ctype)})


def test_an_upload_becomes_a_dataset_for_runs_and_surfaces(http: httpx.Client):
    r = upload(http, CSV)
    assert r.status_code == 201, r.text
    info = strict_json(r)
    assert info["dataset"].startswith("csv-")
    assert info["n"] == 8 and info["features"] == ["size"] and info["target"] == "price"
    assert info["task"] == "regression"
    assert strict_json(upload(http, CSV, name="again.csv"))["dataset"] == info["dataset"]
    assert strict_json(upload(http, CSV + b"9,18\n"))["dataset"] != info["dataset"]

    run = http.post("/api/runs", json={"dataset": info["dataset"], "model": "linear",
                                       "learning_rate": 0.01, "epochs": 30})
    assert run.status_code == 200, run.text
    body = strict_json(run)
    assert body["config"]["dataset"] == info["dataset"]
    assert body["records"][-1]["loss"] < body["records"][0]["loss"]
    surface = http.post("/api/surface", json={"dataset": info["dataset"], "model": "linear",
                                              "resolution": 10})
    assert surface.status_code == 200, surface.text
    assert len(strict_json(surface)["loss"]) == 10


@pytest.mark.parametrize(("data", "needle"), [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "UTF-8"),
    (b"a,b\n1,2\n3,x\n", "line 3, column 'b'"),
    (b"a,b\n1,2\n3\n", "line 3"),
    (b"a,b\n1,nan\n3,4\n", "line 2, column 'b'"),
    (b"a,b\n1,2\n-inf,4\n", "line 3, column 'a'"),
    (b"", ""),
    (b"a,b\n", ""),
    (b"just one column\n1\n2\n", ""),
], ids=["binary", "not-a-number", "short-row", "nan", "inf", "empty", "header-only",
        "one-column"])
def test_a_bad_csv_is_refused_naming_where(http: httpx.Client, data: bytes, needle: str):
    err = error_of(upload(http, data), 422)
    assert err["field"] == "file"
    assert needle in err["message"], err


def test_uploads_that_are_not_a_csv_file(http: httpx.Client):
    assert error_of(http.post("/api/datasets", content=CSV,
                              headers={"content-type": "text/csv"}), 415)["field"] == "file"
    err = error_of(http.post("/api/datasets", files={"other": ("x.csv", CSV)}), 422)
    assert err["field"] == "file"
    err = error_of(http.post("/api/datasets", data={"file": "1,2"},
                             headers={"content-type": "multipart/form-data"}), 422)
    assert err["field"] == "file"
    big = b"a,b\n" + b"1,2\n" * (6 * 1024 * 1024 // 4)  # over the 5 MiB default
    assert error_of(upload(http, big), 413)["code"] == "too_large"


# --- bad input, everywhere ----------------------------------------------------------------------

BAD_RUNS = [
    ({"learning_rate": 0}, "learning_rate"),
    ({"learning_rate": -0.1}, "learning_rate"),
    ({"learning_rate": 10.01}, "learning_rate"),
    ({"learning_rate": "0.1"}, "learning_rate"),
    ({"learning_rate": None}, "learning_rate"),
    ({"epochs": 10_001}, "epochs"),
    ({"epochs": 0}, "epochs"),
    ({"epochs": True}, "epochs"),
    ({"epochs": "5"}, "epochs"),
    ({"epochs": 1.5}, "epochs"),
    ({"batch_size": 0}, "batch_size"),
    ({"batch_size": 10_000}, "batch_size"),
    ({"batch_size": "half"}, "batch_size"),
    ({"seed": 2**32}, "seed"),
    ({"dataset": "nope"}, "dataset"),
    ({"dataset": 3}, "dataset"),
    ({"model": "nope"}, "model"),
    ({"optimizer": "nope"}, "optimizer"),
    ({"loss": "hinge"}, "loss"),
    ({"loss": "cross-entropy"}, "loss"),
    ({"dataset": "cats-dogs", "model": "linear"}, "model"),
    ({"dataset": "rosenbrock"}, "model"),
    ({"dataset": "rosenbrock", "model": "point", "loss": "mse"}, "loss"),
    ({"start": [0]}, "start"),
    ({"start": "origin"}, "start"),
    ({"start": [0, "1"]}, "start[1]"),
    ({"start": [0, 1e7]}, "start[1]"),
    ({"optimizer_options": {"momentum": 1.5}}, "optimizer_options.momentum"),
    ({"optimizer": "adam", "optimizer_options": {"betas": [0.9]}}, "optimizer_options.betas"),
    ({"optimizer_options": {"bogus": 1}}, "optimizer_options.bogus"),
    ({"optimizer_options": []}, "optimizer_options"),
    ({"dataset_options": {"n": 10**9}}, "dataset_options.n"),
    ({"dataset_options": {"validation_split": 1}}, "dataset_options.validation_split"),
    ({"stop": {"tolerance": -1}}, "stop.tolerance"),
    ({"stop": {"when": "bored"}}, "stop.when"),
    ({"record_batches": "yes"}, "record_batches"),
    ({"speed": 3}, "speed"),
]


@pytest.mark.parametrize(("change", "field"), BAD_RUNS,
                         ids=[f"{f}-{i}" for i, (_, f) in enumerate(BAD_RUNS)])
def test_a_bad_run_config_is_a_422_naming_the_field(http: httpx.Client, change, field):
    err = error_of(http.post("/api/runs", json={**LINE, "epochs": 5, **change}), 422)
    assert err["field"] == field, err


BAD_SURFACES = [
    ({"resolution": 401}, "resolution"),
    ({"resolution": 1}, "resolution"),
    ({"resolution": True}, "resolution"),
    ({"resolution": "80"}, "resolution"),
    ({"bounds": [[1, 0], [0, 1]]}, "bounds"),
    ({"bounds": [[0, 1]]}, "bounds"),
    ({"start": [0]}, "start"),
    ({"plane": {"origin": [0, 0]}}, "plane"),
    ({"model": "logistic"}, "dataset"),
    ({"epochs": 3}, "epochs"),
]


@pytest.mark.parametrize(("change", "field"), BAD_SURFACES,
                         ids=[f"{f}-{i}" for i, (_, f) in enumerate(BAD_SURFACES)])
def test_a_bad_surface_request_is_a_422_naming_the_field(http: httpx.Client, change, field):
    err = error_of(http.post("/api/surface", json={**LINE, **change}), 422)
    assert err["field"] is not None and err["field"].startswith(field), err


@pytest.mark.parametrize("path", ["/api/runs", "/api/surface", "/api/data"])
@pytest.mark.parametrize("body", [
    b'{"dataset": "line", "model": "linear", "learning_rate": NaN}',
    b'{"dataset": "line", "model": "linear", "learning_rate": Infinity}',
    b'{"dataset": "line", "model": "linear", "learning_rate": -Infinity}',
    b'{"dataset": "line", "model": ',
    b"",
    b"\xff\xfe{}",
    b"[" * 100_000,
    b'{"dataset": "line", "model": "linear", "seed": ' + b"9" * 5000 + b"}",
], ids=["nan", "inf", "-inf", "truncated", "empty", "not-utf8", "deep", "huge-int"])
def test_malformed_json_is_a_400(http: httpx.Client, path: str, body: bytes):
    err = error_of(http.post(path, content=body,
                             headers={"content-type": "application/json"}), 400)
    assert err["code"] == "malformed_json"


def test_non_finite_numbers_that_parse_are_refused(http: httpx.Client):
    body = b'{"dataset": "line", "model": "linear", "learning_rate": 1e400}'
    err = error_of(http.post("/api/runs", content=body), 422)
    assert err["field"] == "learning_rate"
    body = b'{"dataset": "line", "model": "linear", "bounds": [[-1e999, 0], [0, 1]]}'
    assert error_of(http.post("/api/surface", content=body), 422)["field"].startswith("bounds")


@pytest.mark.parametrize("path", ["/api/runs", "/api/surface", "/api/data"])
def test_oversized_bodies_are_a_413(http: httpx.Client, path: str):
    pad = json.dumps({**LINE, "pad": "x" * (2 * 1024 * 1024)}).encode()
    assert error_of(http.post(path, content=pad), 413)["code"] == "too_large"

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(40):
            yield b" " * 65_536
    r = http.post(path, content=chunks(), headers={"content-type": "application/json"})
    assert error_of(r, 413)["code"] == "too_large"


def test_other_errors_are_json_too(http: httpx.Client):
    assert error_of(http.get("/nope"), 404)["code"] == "not_found"
    assert error_of(http.get("/api/runs"), 405)["code"] == "method_not_allowed"
    assert error_of(http.post("/api/runs", params={"format": "xml"}, json=LINE),
                    422)["field"] == "format"
    assert error_of(http.get("/docs-assets/secrets.txt"), 404)["code"] == "not_found"
    assert http.get("/docs-assets/..%2Fpyproject.toml").status_code == 404
    assert error_of(http.post("/api/data", json={"dataset": "nope"}), 422)["field"] == "dataset"


# --- pages: security headers, CORS, offline docs ------------------------------------------------


def test_pages_carry_security_headers(http: httpx.Client):
    r = http.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = {d.strip().split(" ", 1)[0]: d.strip() for d in
           r.headers["content-security-policy"].split(";")}
    assert csp["frame-ancestors"] == "frame-ancestors 'none'"
    assert csp["script-src"] == "script-src 'self'"
    assert "unsafe-eval" not in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    for path in ("/docs", "/api/catalog"):
        assert http.get(path).headers["x-content-type-options"] == "nosniff"


def test_no_cors_headers_by_default(http: httpx.Client):
    origin = {"origin": "http://evil.example"}
    r = http.get("/api/catalog", headers=origin)
    assert r.status_code == 200
    assert not any(k.startswith("access-control-") for k in r.headers)
    r = http.options("/api/runs", headers={**origin, "access-control-request-method": "POST"})
    assert not any(k.startswith("access-control-") for k in r.headers)
    r = http.post("/api/runs", headers=origin, json={**LINE, "epochs": 1})
    assert not any(k.startswith("access-control-") for k in r.headers)


class Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script" and a.get("src"):
            self.urls.append(a["src"])
        if tag == "link" and a.get("href"):
            self.urls.append(a["href"])
        if tag == "redoc" and a.get("spec-url"):
            self.urls.append(a["spec-url"])


@pytest.mark.parametrize("page", ["/", "/docs", "/redoc"])
def test_pages_load_only_local_assets(http: httpx.Client, page: str):
    r = http.get(page)
    assert r.status_code == 200
    parser = Assets()
    parser.feed(r.text)
    assert parser.urls, "no scripts or stylesheets found"
    for url in parser.urls:
        assert url.startswith("/") and not url.startswith("//"), url
        asset = http.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 0
    assert "http://" not in r.text.replace("http://www.w3.org", "")
    assert "https://" not in r.text


def test_docs_assets_and_plotly_are_served(http: httpx.Client):
    for path, ctype in (("/docs-assets/swagger-ui-bundle.js", "text/javascript"),
                        ("/docs-assets/swagger-ui.css", "text/css"),
                        ("/docs-assets/redoc.standalone.js", "text/javascript"),
                        ("/vendor/plotly.min.js", "text/javascript"),
                        ("/favicon.ico", "image/")):
        r = http.get(path)
        assert r.status_code == 200, path
        assert r.headers["content-type"].startswith(ctype), (path, r.headers["content-type"])
        assert len(r.content) > (100 if path == "/favicon.ico" else 10_000), path


def test_openapi_describes_the_api(http: httpx.Client):
    spec = strict_json(http.get("/openapi.json"))
    assert spec["openapi"].startswith("3.")
    for path, method in (("/api/runs", "post"), ("/api/surface", "post"),
                         ("/api/datasets", "post"), ("/api/catalog", "get")):
        op = spec["paths"][path][method]
        assert op["summary"] and op["responses"], path
    schemas = spec["components"]["schemas"]
    for name in ("RunConfig", "SurfaceRequest", "RunResult", "SurfaceOut", "DatasetOut",
                 "ErrorOut"):
        assert name in schemas, name
    # every $ref resolves
    text = json.dumps(spec)
    for ref in {part.split('"')[0] for part in text.split('"$ref": "')[1:]}:
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.rsplit("/", 1)[1] in schemas, ref
    # and it validates as OpenAPI (schemathesis refuses an invalid schema)
    import schemathesis

    schemathesis.openapi.from_dict(spec).validate()


def test_healthz(http: httpx.Client):
    h = strict_loads(http.get("/healthz").content)
    assert h["status"] == "ok" and set(h) == {"status", "sessions", "tasks"}
    assert math.isfinite(h["tasks"])

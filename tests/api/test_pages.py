"""The vendored Plotly.js is served compressed to browsers that accept it, identical inside."""

from __future__ import annotations

import gzip
from pathlib import Path

import httpx
import plotly

PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def test_plotly_is_served_gzipped_when_accepted_and_plain_otherwise(server):
    original = PLOTLY_JS.read_bytes()
    with httpx.Client(base_url=server.url, trust_env=False, timeout=30) as c:
        with c.stream("GET", "/vendor/plotly.min.js",
                      headers={"accept-encoding": "gzip"}) as r:
            assert r.status_code == 200
            assert r.headers["content-encoding"] == "gzip"
            raw = b"".join(r.iter_raw())
        assert len(raw) < len(original) / 2
        assert gzip.decompress(raw) == original
        plain = c.get("/vendor/plotly.min.js", headers={"accept-encoding": "identity"})
        assert "content-encoding" not in plain.headers
        assert plain.content == original
        assert plain.headers["content-type"].startswith("text/javascript")

"""Browser timings in headless Chromium (software WebGL), against a real server.

1. A 2,000-epoch run at max speed: time from its last record arriving (the `done` message) to
   the whole path being drawn. Target: within 3 s.
2. A 100x100 surface after choosing a dataset on a warm page: time from the choice to the
   surface being drawn. Target: within 1.5 s.
Each is repeated; medians are printed. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--no-sandbox", "--enable-unsafe-swiftshader", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run"]
PATH_LEN = """() => { const gd = document.getElementById('plot-surface');
  const t = (gd.data || []).find(t => t.type === 'scatter3d' && t.mode === 'lines+markers');
  return t ? t.x.length : 0; }"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mark(page, name: str) -> float:
    return page.evaluate(f"performance.getEntriesByName('{name}').slice(-1)[0].startTime")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    port = free_port()
    env = {**os.environ, "DESCENT_LAB_DATA_DIR": "/tmp/descent-lab-bench-data"}
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "app.main:app", "--port",
                               str(port), "--log-level", "warning"], cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            t0 = time.perf_counter()
            page.goto(base + "/?dataset=line&model=linear&lr=0.01&epochs=2000&speed=max")
            page.wait_for_selector("body[data-ready=yes]", timeout=60_000)
            cold = time.perf_counter() - t0
            draw, surf = [], []
            for _ in range(a.repeats):
                page.click("#btn-start")
                page.wait_for_selector("#status[data-state=done]", timeout=60_000)
                page.wait_for_function(f"() => ({PATH_LEN})() === 2001", timeout=60_000)
                page.wait_for_timeout(600)  # let the last frame land
                draw.append(mark(page, "drawn") - mark(page, "records-done"))
            for name in ["cats-dogs", "tanh", "line"] * a.repeats:
                page.select_option("#dataset", name)
                page.wait_for_function(
                    "() => performance.getEntriesByName('surface-drawn').length > 0 && "
                    "performance.getEntriesByName('surface-drawn').slice(-1)[0].startTime > "
                    "performance.getEntriesByName('surface-requested').slice(-1)[0].startTime",
                    timeout=60_000)
                surf.append(mark(page, "surface-drawn") - mark(page, "surface-requested"))
            browser.close()
    finally:
        server.terminate()
        server.wait(10)
    d, s = statistics.median(draw) / 1000, statistics.median(surf) / 1000
    print(f"chromium headless, software WebGL; first page load {cold:.2f} s")
    print(f"2,000-epoch run at max speed, last record -> fully drawn: median {d:.2f} s "
          f"(runs: {', '.join(f'{x / 1000:.2f}' for x in draw)}) target 3 s "
          f"{'PASS' if d <= 3 else 'MISS'}")
    print(f"100x100 surface after choosing a dataset (warm page): median {s:.2f} s "
          f"(runs: {', '.join(f'{x / 1000:.2f}' for x in surf)}) target 1.5 s "
          f"{'PASS' if s <= 1.5 else 'MISS'}")


if __name__ == "__main__":
    main()

"""Load test: N concurrent websocket clients, each streaming a run at 30 epochs/s.

Starts one uvicorn worker on a free 127.0.0.1 port, connects N clients (their starts spread over
a ramp, as real users arrive), and reports for each N:
  - whether every client received every epoch (0..E) and a `done`,
  - lateness of each epoch's arrival against its schedule (first record's arrival + epoch/30 s):
    p50 / p99 / max,
  - server CPU (share of one core, from /proc) and RSS (peak while streaming, and before).

Usage: python bench/load_ws.py [--clients 500 1000] [--epochs 300] [--speed 30]
Target on a 2-core machine: 500 sessions, every epoch delivered, p99 lateness under 100 ms.
Only 127.0.0.1 is contacted; every wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import resource
import socket
import statistics
import struct
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raise_fd_limit(n: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(max(soft, n), hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def start_server(port: int, max_sessions: int) -> subprocess.Popen:
    env = {**os.environ, "DESCENT_LAB_MAX_SESSIONS": str(max_sessions),
           "DESCENT_LAB_DATA_DIR": "/tmp/descent-lab-bench-data", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port",
         str(port), "--log-level", "warning", "--ws-per-message-deflate", "false"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        preexec_fn=lambda: raise_fd_limit(8192))
    for _ in range(200):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("server did not start")


class _RawClient(asyncio.Protocol):
    """A minimal websocket client (handshake, masked text frames out, unmasked frames in).

    Hundreds of sessions in one Python process cost the client a core with a full websocket
    library; this one spends a few microseconds a frame, so the lateness measured is the
    server's, not the client's.
    """

    def __init__(self, host: str, path: str, start: bytes, done: asyncio.Future) -> None:
        self.host, self.path, self.start, self.done = host, path, start, done
        self.buf = bytearray()
        self.open = False
        self.arrivals: list[tuple[float, int]] = []
        self.finished = False
        self.error: str | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write((f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\n"
                         "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                         f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
                         ).encode())

    def send(self, opcode: int, data: bytes) -> None:
        mask = os.urandom(4)
        n = len(data)
        head = bytes([0x80 | opcode]) + (bytes([0x80 | n]) if n < 126 else
                                         bytes([0x80 | 126]) + struct.pack("!H", n))
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.transport.write(head + mask + masked)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        self.buf += data
        if not self.open:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.buf.startswith(b"HTTP/1.1 101"):
                self.fail(self.buf[:40].decode(errors="replace"))
                return
            del self.buf[: end + 4]
            self.open = True
            self.send(1, self.start)
        while len(self.buf) >= 2:
            op, n, i = self.buf[0] & 0x0F, self.buf[1] & 0x7F, 2
            if n == 126:
                if len(self.buf) < 4:
                    return
                n, i = struct.unpack("!H", self.buf[2:4])[0], 4
            elif n == 127:
                if len(self.buf) < 10:
                    return
                n, i = struct.unpack("!Q", self.buf[2:10])[0], 10
            if len(self.buf) < i + n:
                return
            payload = bytes(self.buf[i:i + n])
            del self.buf[: i + n]
            if op == 1:
                msg = orjson.loads(payload)
                if msg["type"] == "epochs":
                    self.arrivals += [(now, r["epoch"]) for r in msg["records"]]
                elif msg["type"] == "done":
                    self.finished = True
                    self.send(8, struct.pack("!H", 1000))
                    self.transport.close()
                elif msg["type"] == "error":
                    self.fail(msg["message"])
            elif op == 9:
                self.send(10, payload)  # pong
            elif op == 8:
                self.transport.close()

    def fail(self, why: str) -> None:
        self.error = why
        self.transport.close()

    def connection_lost(self, exc) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def client(url: str, delay: float, epochs: int, speed: float, out: list) -> None:
    await asyncio.sleep(delay)
    start = orjson.dumps({"type": "start", "epochs_per_second": speed,
                          "config": {"dataset": "line", "model": "linear", "epochs": epochs,
                                     "learning_rate": 0.01}})
    host, _, rest = url.removeprefix("ws://").partition("/")
    name, _, port = host.partition(":")
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    try:
        _, proto = await asyncio.wait_for(loop.create_connection(
            lambda: _RawClient(host, "/" + rest, start, done), name, int(port)), 30)
        await asyncio.wait_for(done, epochs / speed + 60)
    except Exception as e:  # reported in the table, not hidden
        out.append({"error": f"{type(e).__name__}: {e}"})
        return
    if proto.error:
        out.append({"error": proto.error})
        return
    out.append({"arrivals": proto.arrivals, "done": proto.finished})


async def run_load(port: int, n: int, epochs: int, speed: float, ramp: float, pid: int) -> dict:
    url = f"ws://127.0.0.1:{port}/ws/train"
    results: list[dict] = []
    rss_before = rss_mib(pid)
    peak = rss_before
    cpu0, t0, own0 = cpu_seconds(pid), time.monotonic(), time.process_time()
    tasks = [asyncio.create_task(client(url, ramp * i / n, epochs, speed, results))
             for i in range(n)]
    pending = set(tasks)
    while pending:
        _, pending = await asyncio.wait(pending, timeout=0.5)
        peak = max(peak, rss_mib(pid))
    cpu1, t1, own1 = cpu_seconds(pid), time.monotonic(), time.process_time()
    errors = [r["error"] for r in results if "error" in r]
    complete = 0
    lateness: list[float] = []
    for r in results:
        if "arrivals" not in r:
            continue
        got = sorted({e for _, e in r["arrivals"]})
        if r["done"] and got == list(range(epochs + 1)):
            complete += 1
        if r["arrivals"]:
            first = r["arrivals"][0][0]
            lateness += [(t - (first + e / speed)) * 1000 for t, e in r["arrivals"]]
    lateness.sort()

    def q(p: float) -> float:
        if not lateness:
            return float("nan")
        return lateness[min(len(lateness) - 1, int(p * len(lateness)))]

    return {"clients": n, "complete": complete, "errors": errors[:3], "n_errors": len(errors),
            "p50": q(0.50), "p99": q(0.99), "max": lateness[-1] if lateness else float("nan"),
            "mean": statistics.fmean(lateness) if lateness else float("nan"),
            "cpu": (cpu1 - cpu0) / (t1 - t0), "client_cpu": (own1 - own0) / (t1 - t0),
            "rss_before": rss_before, "rss_peak": peak,
            "seconds": t1 - t0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, nargs="+", default=[500, 1000])
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--speed", type=float, default=30.0)
    ap.add_argument("--ramp", type=float, default=2.0, help="seconds over which clients start")
    a = ap.parse_args()
    raise_fd_limit(8192)
    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}; "
          f"{a.epochs} epochs per client at {a.speed:g} epochs/s, one uvicorn worker")
    print(f"{'clients':>7} {'complete':>9} {'errors':>6} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'max ms':>7} {'server CPU':>10} {'RSS MiB':>13} {'target':>8} {'client CPU':>10}")
    for n in a.clients:
        port = free_port()
        proc = start_server(port, max_sessions=max(a.clients) + 10)
        try:
            r = asyncio.run(run_load(port, n, a.epochs, a.speed, a.ramp, proc.pid))
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        ok = r["complete"] == n and r["p99"] < 100
        print(f"{n:>7} {r['complete']:>9} {r['n_errors']:>6} {r['p50']:>7.1f} {r['p99']:>7.1f} "
              f"{r['max']:>7.1f} {100 * r['cpu']:>9.0f}% {r['rss_before']:>5.0f} -> "
              f"{r['rss_peak']:<5.0f} {'PASS' if ok else 'MISS':>8} "
              f"{100 * r['client_cpu']:>9.0f}%")
        for e in r["errors"]:
            print(f"        error: {e}")


if __name__ == "__main__":
    main()

"""Benchmark of the numpy training core, side by side with its baselines (not a test).

    .venv/bin/python bench/bench_core.py            # full run (about 2-3 minutes on 2 cores)
    .venv/bin/python bench/bench_core.py --quick    # smoke run (15-30 s; 2 s with --no-torch)
    .venv/bin/python bench/bench_core.py --json out.json [--no-torch] [--profile]

1. Per-epoch time of full-batch gradient descent (optimizer sgd, validation_split 0) for
   linear + MSE ('line') and logistic + cross-entropy ('cats-dogs'): iterating the core trainer
   (app.core.trainer.train(parse_run(config))), a textbook per-sample Python loop, and PyTorch
   (autograd + torch.optim.SGD, float64) with one thread and with its default threads. Setup
   (parsing the config, building the data, the trainer's record 0) is not timed. Correctness: the
   final weights of the core and of each baseline after the same number of epochs are compared.
2. The 200 x 200 loss surface (app.core.surface.loss_surface with fixed bounds): time, and peak
   extra memory from tracemalloc (numpy reports its buffers to it). For cross-entropy the
   "floor" is one np.exp and one np.log1p over G*G*n float64 elements, done in chunks of the
   size the surface uses (surface.CHUNK_BYTES), in preallocated buffers.
3. The machine, the versions, and a PASS/MISS line per target.

Every figure is the median of repeats timed with time.perf_counter, all measured in this run.
"""

from __future__ import annotations

import importlib.util
import os
import sys

# PyTorch's threads and OpenBLAS's threads fight over the cores (shared/TESTING.md): when torch
# is benchmarked too, OpenBLAS gets one thread. This must happen before numpy is imported.
_TORCH_AVAILABLE = importlib.util.find_spec("torch") is not None
_WITH_TORCH = _TORCH_AVAILABLE and "--no-torch" not in sys.argv
_OPENBLAS_BEFORE = os.environ.get("OPENBLAS_NUM_THREADS")
if _WITH_TORCH:
    os.environ["OPENBLAS_NUM_THREADS"] = "1"

import argparse  # noqa: E402
import cProfile  # noqa: E402
import gc  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import pstats  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from app.core import surface as surface_mod  # noqa: E402
from app.core.objective import Objective  # noqa: E402
from app.core.runconfig import parse_run  # noqa: E402
from app.core.trainer import train  # noqa: E402

torch = None
if _WITH_TORCH:
    import torch
    import torch.nn.functional as F

G = 200  # surface resolution
CASES = (("linear", "line", "mse"), ("logistic", "cats-dogs", "cross-entropy"))
# Fixed surface bounds ((w0, w1), (b0, b1)): around each start point and the minimum.
BOUNDS = {"linear": ((-4.0, 6.0), (-5.0, 5.0)), "logistic": ((-6.0, 10.0), (-6.0, 6.0))}
US = 1e6
MS = 1e3
MIB = 2**20


# --- helpers --------------------------------------------------------------------------------

def _median(xs):
    return statistics.median(xs)


def _spread(xs):
    """Half the inter-quartile range over the median, in percent (0 with fewer than 4 runs)."""
    if len(xs) < 4:
        return 0.0
    q = statistics.quantiles(xs, n=4)
    return 50.0 * (q[2] - q[0]) / statistics.median(xs)


def _faults():
    """Minor page faults of this process so far (a fresh allocation's pages fault when touched)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def _busy_seconds():
    """CPU seconds all processes have used (from /proc/stat), or None if unreadable."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()[1:]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _own_seconds():
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _config(model, dataset, n, epochs):
    return {"dataset": dataset, "model": model, "optimizer": "sgd", "epochs": epochs,
            "dataset_options": {"n": n, "validation_split": 0.0}}


def _max_rel(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12)))


def _fmt(x, digits=1):
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    if x >= 1e5:
        return f"{x:,.0f}"
    return f"{x:,.{digits}f}"


def _ratio(a, b):
    return None if a is None or b is None else a / b


def _table(headers, rows):
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for k, r in enumerate(cells):
        lines.append("  ".join(c.rjust(w) if i else c.ljust(w)
                               for i, (c, w) in enumerate(zip(r, widths, strict=True))))
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _say(*parts):
    print(*parts, flush=True)


# --- 1. per-epoch time --------------------------------------------------------------------------

def time_core(run, epochs, repeats):
    """Seconds per epoch of iterating the core trainer, page faults per epoch, final theta."""
    samples, faults, theta = [], [], None
    for r in range(repeats + 1):  # the first pass warms up
        tr = train(run)
        next(tr)  # record 0 (the start point) is setup
        gc.collect()
        f0 = _faults()
        t0 = time.perf_counter()
        for rec in tr:  # noqa: B007 - the last record is checked below
            pass
        dt = time.perf_counter() - t0
        f1 = _faults()
        assert rec.epoch == epochs and rec.stop_reason == "max_epochs", rec
        theta = rec.theta
        if r:
            samples.append(dt / epochs)
            faults.append((f1 - f0) / epochs)
    return samples, faults, theta


def python_linear(xs, ys, w, b, lr, epochs):
    """Textbook per-sample loop: forward, squared error, gradient in Python floats; update."""
    n = len(xs)
    loss = 0.0
    for _ in range(epochs):
        loss = gw = gb = 0.0
        for x, y in zip(xs, ys, strict=True):
            r = w * x + b - y  # forward, residual
            loss += r * r  # loss
            gw += r * x  # dL/dw (times n/2)
            gb += r  # dL/db (times n/2)
        loss /= n
        w -= lr * 2.0 * gw / n
        b -= lr * 2.0 * gb / n
    return w, b, loss


def python_logistic(xs, ys, w, b, lr, epochs):
    """Textbook per-sample loop: forward, sigmoid, cross-entropy (stable), gradient; update."""
    n = len(xs)
    exp, log1p = math.exp, math.log1p
    loss = 0.0
    for _ in range(epochs):
        loss = gw = gb = 0.0
        for x, y in zip(xs, ys, strict=True):
            z = w * x + b  # forward
            e = exp(-abs(z))
            p = 1.0 / (1.0 + e) if z >= 0.0 else e / (1.0 + e)  # sigmoid
            loss += (z if z > 0.0 else 0.0) + log1p(e) - y * z  # -(y log p + (1-y) log(1-p))
            d = p - y  # dL/dz
            gw += d * x
            gb += d
        loss /= n
        w -= lr * gw / n
        b -= lr * gb / n
    return w, b, loss


def time_python(run, epochs, repeats):
    xs, ys = run.dataset.X[:, 0].tolist(), run.dataset.y.tolist()
    fn = python_linear if run.model.name == "linear" else python_logistic
    w0, b0 = (float(v) for v in run.start)
    samples, theta = [], None
    for r in range(repeats + 1):
        gc.collect()
        t0 = time.perf_counter()
        w, b, _ = fn(xs, ys, w0, b0, run.learning_rate, epochs)
        dt = time.perf_counter() - t0
        theta = (w, b)
        if r:
            samples.append(dt / epochs)
    return samples, theta


def time_torch(run, epochs, repeats, threads):
    """PyTorch: autograd + torch.optim.SGD on float64 tensors of the same data (+ loss.item())."""
    torch.set_num_threads(threads)
    x = torch.from_numpy(np.ascontiguousarray(run.dataset.X[:, 0]))
    y = torch.from_numpy(run.dataset.y)
    loss_fn = F.mse_loss if run.loss.name == "mse" else F.binary_cross_entropy_with_logits
    samples, faults, theta = [], [], None
    for r in range(repeats + 1):
        w = torch.tensor(float(run.start[0]), dtype=torch.float64, requires_grad=True)
        b = torch.tensor(float(run.start[1]), dtype=torch.float64, requires_grad=True)
        opt = torch.optim.SGD([w, b], lr=run.learning_rate)
        gc.collect()
        f0 = _faults()
        t0 = time.perf_counter()
        for _ in range(epochs):
            opt.zero_grad()
            loss = loss_fn(w * x + b, y)
            loss.backward()
            opt.step()
            loss.item()  # the loss of every epoch, as the core's records give it
        dt = time.perf_counter() - t0
        f1 = _faults()
        theta = (w.item(), b.item())
        if r:
            samples.append(dt / epochs)
            faults.append((f1 - f0) / epochs)
    return samples, faults, theta


def core_theta_after(run, epochs):
    rec = None
    for rec in train(run):
        if rec.epoch == epochs:
            break
    return rec.theta


def bench_epochs(ns, plan, repeats, torch_threads, log):
    rows = []
    for model, dataset, _ in CASES:
        for n in ns:
            epochs, py_epochs = plan[n]
            run = parse_run(_config(model, dataset, n, epochs))
            row = {"model": model, "dataset": dataset, "n": n, "epochs": epochs,
                   "python_epochs": py_epochs, "repeats": repeats}
            core_s, core_f, core_theta = time_core(run, epochs, repeats)
            row["core_us"] = _median(core_s) * US
            row["core_faults_per_epoch"] = _median(core_f)
            row["core_spread_pct"] = _spread(core_s)
            row["core_samples_us"] = [s * US for s in core_s]
            py_reps = repeats if n < 100_000 else max(3, repeats // 2)
            py_s, py_theta = time_python(run, py_epochs, py_reps)
            row["python_us"] = _median(py_s) * US
            row["python_samples_us"] = [s * US for s in py_s]
            row["maxrel_python"] = _max_rel(py_theta, core_theta_after(run, py_epochs))
            row["core_theta"] = [float(v) for v in core_theta]
            for th in torch_threads:
                t_s, t_f, t_theta = time_torch(run, epochs, repeats, th)
                row[f"torch{th}_us"] = _median(t_s) * US
                row[f"torch{th}_faults_per_epoch"] = _median(t_f)
                row[f"torch{th}_samples_us"] = [s * US for s in t_s]
                row[f"maxrel_torch{th}"] = _max_rel(t_theta, core_theta)
            rows.append(row)
            log(f"  {model:8s} n={n:>7,}: core {row['core_us']:9.1f} us/epoch  "
                f"python {row['python_us']:10.1f}"
                + "".join(f"  torch[{th}] {row[f'torch{th}_us']:8.1f}" for th in torch_threads))
    return rows


# --- 2. surface -------------------------------------------------------------------------------

def _objective(model, dataset, n):
    run = parse_run(_config(model, dataset, n, 1))
    return run, Objective(run.dataset, run.model, run.loss)


def time_surface(obj, bounds, runs):
    samples, faults = [], []
    for _ in range(runs):
        gc.collect()
        f0 = _faults()
        t0 = time.perf_counter()
        s = surface_mod.loss_surface(obj, G, bounds=bounds)
        samples.append(time.perf_counter() - t0)
        faults.append(_faults() - f0)
    return samples, faults, s


def peak_surface(obj, bounds):
    """Peak bytes allocated during one surface (tracemalloc), and that run's time."""
    gc.collect()
    tracemalloc.start()
    try:
        t0 = time.perf_counter()
        surface_mod.loss_surface(obj, G, bounds=bounds)
        dt = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, dt


def time_floor(obj, bounds, runs):
    """One np.exp and one np.log1p over G*G*n float64 values, chunked as the surface chunks.

    The input is one chunk of the real t = s*z values (grid points spread over the whole
    grid), reused for every chunk; the output buffer is preallocated, so no page faults.
    """
    n = obj.n
    rows = max(1, surface_mod.CHUNK_BYTES // (8 * max(n, 1)))
    k = G * G
    (x0, x1), (y0, y1) = bounds
    A, B = np.meshgrid(np.linspace(x0, x1, G), np.linspace(y0, y1, G))
    thetas = np.stack([A.ravel(), B.ravel()], axis=-1)
    pick = np.linspace(0, k - 1, min(rows, k)).astype(int)
    t_in = obj.model.logits(thetas[pick], obj.cols) * obj.target
    out = np.empty_like(t_in)
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        for i in range(0, k, rows):
            m = min(rows, k - i)
            e = np.exp(t_in[:m], out=out[:m])
            np.log1p(e, out=e)
        samples.append(time.perf_counter() - t0)
    return samples


def time_auto_bounds(obj, start, runs):
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        b = surface_mod.auto_bounds(obj, start)
        samples.append(time.perf_counter() - t0)
    return samples, b


def bench_surfaces(ns_linear, ns_logistic, quick, log):
    rows = []
    # warm-up (code paths, allocator) on a small case
    _, obj = _objective("logistic", "cats-dogs", 1000)
    surface_mod.loss_surface(obj, G, bounds=BOUNDS["logistic"])
    for model, dataset, _ in CASES:
        ns = ns_linear if model == "linear" else ns_logistic
        for n in ns:
            run, obj = _objective(model, dataset, n)
            bounds = BOUNDS[model]
            if model == "linear":
                runs, floor_runs = (7 if quick else 21), 0
            else:
                runs, floor_runs = {1000: (5, 5), 10_000: (3, 3), 100_000: (1, 2)}[n]
                if quick:
                    runs, floor_runs = min(runs, 3), min(floor_runs, 3)
            t_s, f_s, surf = time_surface(obj, bounds, runs)
            peak, traced_s = peak_surface(obj, bounds)
            if runs < 3:  # the costly case: the traced run counts as a timing run too
                t_s.append(traced_s)
            ab_s, ab = time_auto_bounds(obj, run.start, 3 if quick else 5)
            row = {"model": model, "n": n, "resolution": G, "bounds": bounds,
                   "closed_form": obj.closed_form, "runs": len(t_s),
                   "time_ms": _median(t_s) * MS, "samples_ms": [s * MS for s in t_s],
                   "faults": _median(f_s),
                   "traced_run_ms": traced_s * MS, "peak_mib": peak / MIB,
                   "auto_bounds_ms": _median(ab_s) * MS, "auto_bounds": ab,
                   "min_loss": surf.min_loss, "min_params": surf.min_params.tolist(),
                   "floor_ms": None, "floor_runs": floor_runs}
            if floor_runs:
                f_s = time_floor(obj, bounds, floor_runs)
                row["floor_ms"] = _median(f_s) * MS
                row["floor_samples_ms"] = [s * MS for s in f_s]
                row["chunk_rows"] = max(1, surface_mod.CHUNK_BYTES // (8 * n))
            rows.append(row)
            log(f"  {model:8s} n={n:>7,}: {row['time_ms']:10.2f} ms  peak "
                f"{row['peak_mib']:6.2f} MiB"
                + (f"  floor {row['floor_ms']:10.2f} ms" if floor_runs else ""))
    return rows


# --- 3. machine, targets, output --------------------------------------------------------------

def machine_info():
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cfg = np.show_config(mode="dicts")
    blas = cfg.get("Build Dependencies", {}).get("blas", {})
    simd = cfg.get("SIMD Extensions", {})
    info = {
        "nproc": os.cpu_count(),
        "sched_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else None,
        "cpu": cpu,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": f"{blas.get('name', '?')} {blas.get('version', '')}".strip(),
        "blas_config": blas.get("openblas configuration", ""),
        "numpy_simd": simd.get("found", []),
        "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
        "OPENBLAS_NUM_THREADS_before": _OPENBLAS_BEFORE,
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "torch": None,
    }
    if torch is not None:
        info["torch"] = torch.__version__
        info["torch_default_threads"] = torch.get_num_threads()
        info["torch_blas"] = ("MKL" if torch.backends.mkl.is_available() else "?")
        info["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    return info


def print_machine(info):
    _say("== Machine and versions ==")
    _say(f"nproc {info['nproc']} (usable {info['sched_affinity']}) | CPU: {info['cpu']} | "
         f"{info['platform']}")
    _say(f"Python {info['python']} | numpy {info['numpy']} | BLAS {info['blas']} "
         f"({info['blas_config']}) | numpy SIMD: {', '.join(info['numpy_simd'])}")
    if info["torch"]:
        _say(f"torch {info['torch']} (default threads {info['torch_default_threads']}, "
             f"{info['torch_blas']}, CPU capability {info['torch_cpu_capability']})")
        _say("OPENBLAS_NUM_THREADS=1 was set by this script before importing numpy, because "
             "torch is benchmarked in the same process (their thread pools fight); "
             f"before: {info['OPENBLAS_NUM_THREADS_before']!r}")
    else:
        why = "--no-torch" if _TORCH_AVAILABLE else "not importable"
        _say(f"torch: not benchmarked ({why}); OPENBLAS_NUM_THREADS left as "
             f"{info['OPENBLAS_NUM_THREADS']!r}")
    _say(f"OPENBLAS_CORETYPE={info['OPENBLAS_CORETYPE']!r} (left as found)")


def print_epochs(rows, torch_threads):
    _say("\n== 1. Per-epoch time (us), full batch, sgd lr 0.1, validation_split 0; "
         "medians ==")
    headers = ["model", "n", "epochs", "core", "±%", "flt/ep", "python loop"]
    headers += [f"torch[{t}]" for t in torch_threads]
    headers += ["py/core"] + [f"torch[{t}]/core" for t in torch_threads]
    headers += ["rel.diff py"] + [f"rel.diff torch[{t}]" for t in torch_threads]
    table = []
    for r in rows:
        line = [r["model"], f"{r['n']:,}", f"{r['epochs']}/{r['python_epochs']}",
                _fmt(r["core_us"]), f"{r['core_spread_pct']:.0f}",
                f"{r['core_faults_per_epoch']:.0f}", _fmt(r["python_us"])]
        line += [_fmt(r[f"torch{t}_us"]) for t in torch_threads]
        line += [f"{r['python_us'] / r['core_us']:.1f}x"]
        line += [f"{r[f'torch{t}_us'] / r['core_us']:.2f}x" for t in torch_threads]
        line += [f"{r['maxrel_python']:.1e}"]
        line += [f"{r[f'maxrel_torch{t}']:.1e}" for t in torch_threads]
        table.append(line)
    _say(_table(headers, table))
    _say("epochs: core and torch / python loop. ±%: half the core's inter-quartile range. "
         "flt/ep: the core's minor page faults\nper epoch (fresh temporaries whose pages the "
         "allocator returned to the OS: their count depends on the process's\nallocation "
         "history). rel.diff: max relative difference of the final (w, b) against the core's "
         "after the\nsame epochs. torch[k]: k intra-op threads; its loop calls loss.item() "
         "each epoch.")


def print_surfaces(rows):
    _say(f"\n== 2. {G}x{G} loss surface, fixed bounds (auto-bounds timed apart); medians ==")
    headers = ["model", "n", "runs", "time ms", "floor ms", "time/floor", "page faults",
               "peak MiB", "auto-bounds ms"]
    table = []
    for r in rows:
        table.append([r["model"] + (" (closed form)" if r["closed_form"] else ""),
                      f"{r['n']:,}", str(r["runs"]), _fmt(r["time_ms"], 2),
                      _fmt(r["floor_ms"], 2),
                      "-" if r["floor_ms"] is None else f"{r['time_ms'] / r['floor_ms']:.2f}x",
                      f"{r['faults']:,.0f}",
                      f"{r['peak_mib']:.2f}", _fmt(r["auto_bounds_ms"], 2)])
    _say(_table(headers, table))
    _say(f"floor: one np.exp + one np.log1p over G*G*n float64 values, in chunks of "
         f"CHUNK_BYTES = {surface_mod.CHUNK_BYTES // MIB} MiB (same rows per chunk as the "
         "surface),\npreallocated. peak: tracemalloc, one extra run (counted among the timed "
         "runs only where fewer than 3 untraced runs\nwere made: its overhead is a few "
         "allocations per chunk).")


def targets(epoch_rows, surf_rows, torch_threads):
    out = []

    def add(name, ok, detail):
        out.append({"target": name, "pass": ok, "detail": detail})

    if torch_threads:
        for model, _, _ in CASES:
            rs = [r for r in epoch_rows if r["model"] == model]
            best = {r["n"]: min(r[f"torch{t}_us"] for t in torch_threads) for r in rs}
            small = [r for r in rs if r["n"] <= 1000]
            if small:
                worst = min(best[r["n"]] / r["core_us"] for r in small)
                add(f"{model}: core >= 5x faster than torch at n <= 1,000", worst >= 5.0,
                    f"worst torch/core {worst:.2f}x (" + ", ".join(
                        f"n={r['n']:,}: {best[r['n']] / r['core_us']:.2f}x" for r in small)
                    + ")")
            worst_r = min(rs, key=lambda r: best[r["n"]] / r["core_us"])
            worst = best[worst_r["n"]] / worst_r["core_us"]
            add(f"{model}: core never slower than torch, n up to {rs[-1]['n']:,}", worst >= 1.0,
                f"worst torch/core {worst:.2f}x at n={worst_r['n']:,}")
        rel = max(r[f"maxrel_torch{t}"] for r in epoch_rows for t in torch_threads)
        add("core and torch agree on the final weights (max rel. diff < 1e-9)", rel < 1e-9,
            f"max rel. diff {rel:.1e}")
    rel = max(r["maxrel_python"] for r in epoch_rows)
    add("core and the Python loop agree on the final weights (< 1e-9)", rel < 1e-9,
        f"max rel. diff {rel:.1e}")
    lin = [r for r in surf_rows if r["model"] == "linear"]
    if lin:
        worst = max(lin, key=lambda r: r["time_ms"])
        add("linear+mse surface under 5 ms at every n", worst["time_ms"] < 5.0,
            f"worst {worst['time_ms']:.2f} ms at n={worst['n']:,}")
    log = [r for r in surf_rows if r["model"] == "logistic"]
    if log:
        worst = max(log, key=lambda r: r["time_ms"] / r["floor_ms"])
        ratio = worst["time_ms"] / worst["floor_ms"]
        add("logistic+ce surface within 2x of the exp+log1p floor at every n", ratio <= 2.0,
            "time/floor " + ", ".join(f"n={r['n']:,}: {r['time_ms'] / r['floor_ms']:.2f}x"
                                      for r in log))
        worst = max(log, key=lambda r: r["peak_mib"])
        add("logistic+ce surface under 64 MiB extra memory at every n",
            worst["peak_mib"] < 64.0, f"worst {worst['peak_mib']:.1f} MiB at n={worst['n']:,}")
    return out


def print_targets(tg, quick):
    _say("\n== 3. Targets" + (" (quick run: partial coverage)" if quick else "") + " ==")
    for t in tg:
        _say(f"{'PASS' if t['pass'] else 'MISS'}  {t['target']}: {t['detail']}")


def profile_trainer(n=100, epochs=2000):
    """cProfile of iterating the core trainer at small n (cProfile inflates each call)."""
    for model, dataset, _ in CASES:
        run = parse_run(_config(model, dataset, n, epochs))
        tr = train(run)
        next(tr)
        pr = cProfile.Profile()
        pr.enable()
        for _ in tr:
            pass
        pr.disable()
        buf = io.StringIO()
        pstats.Stats(pr, stream=buf).sort_stats("tottime").print_stats(14)
        _say(f"\n== profile: {model}, n = {n}, {epochs} epochs (cProfile, by own time) ==")
        _say("\n".join(buf.getvalue().splitlines()[4:]))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="a fast smoke run")
    ap.add_argument("--json", metavar="FILE", help="also save the figures as JSON")
    ap.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")
    ap.add_argument("--profile", action="store_true",
                    help="also print a cProfile of the trainer loop at n = 100")
    args = ap.parse_args(argv)

    t_start = time.perf_counter()
    busy0, own0 = _busy_seconds(), _own_seconds()
    info = machine_info()
    print_machine(info)
    _say(f"load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")

    torch_threads = []
    if torch is not None:
        default = info["torch_default_threads"]
        torch_threads = [1] if default == 1 else [1, default]
    if args.quick:
        ns, repeats = (100, 10_000), 3
        plan = {100: (500, 200), 10_000: (100, 2)}
        ns_lin, ns_log = (1000, 100_000), (1000,)
    else:
        ns, repeats = (100, 1000, 10_000, 100_000), 7
        plan = {100: (2000, 2000), 1000: (2000, 200), 10_000: (1000, 20), 100_000: (200, 2)}
        ns_lin, ns_log = (1000, 10_000, 100_000), (1000, 10_000, 100_000)

    def log(msg):
        _say(msg)

    _say("\n-- measuring per-epoch times --")
    epoch_rows = bench_epochs(ns, plan, repeats, torch_threads, log)
    if torch is not None:
        torch.set_num_threads(info["torch_default_threads"])
    _say("-- measuring surfaces --")
    surf_rows = bench_surfaces(ns_lin, ns_log, args.quick, log)

    print_epochs(epoch_rows, torch_threads)
    print_surfaces(surf_rows)
    tg = targets(epoch_rows, surf_rows, torch_threads)
    print_targets(tg, args.quick)
    if args.profile:
        profile_trainer()
    total = time.perf_counter() - t_start
    _say(f"\ntotal benchmark time {total:.0f} s")
    busy1, own1 = _busy_seconds(), _own_seconds()
    others = None
    if busy0 is not None and busy1 is not None:
        others = max(0.0, (busy1 - busy0) - (own1 - own0)) / total
        _say(f"other processes used {others:.2f} of the {os.cpu_count()} cores on average "
             "during the run" + ("  <- the machine was busy: the figures are noisy (torch's "
                                 "multi-threaded runs suffer most)" if others > 0.2 else ""))

    if args.json:
        Path(args.json).write_text(json.dumps(
            {"machine": info, "quick": args.quick, "epochs": epoch_rows,
             "surfaces": surf_rows, "targets": tg, "total_s": total,
             "other_processes_cores": others}, indent=1))
        _say(f"figures saved to {args.json}")


if __name__ == "__main__":
    main()

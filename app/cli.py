"""descent-lab: train from the command line, or serve the web app.

    descent-lab train --dataset line --model linear --optimizer adam --lr 0.1 --epochs 200
    descent-lab serve [--host 127.0.0.1] [--port 8000]

Bad arguments give a one-line error and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, NoReturn, TextIO

from app.core.datasets import DATASETS, csv_dataset
from app.core.errors import ConfigError
from app.core.losses import LOSSES
from app.core.models import MODELS
from app.core.optimizers import OPTIMIZERS
from app.core.results import csv_header, epoch_dict, records_csv, result_dict
from app.core.runconfig import STOP_REASONS, parse_run
from app.core.trainer import train

PROG = "descent-lab"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        fail(message)


def fail(message: str) -> NoReturn:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _key_values(items: list[str] | None, flag: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            fail(f"{flag} takes KEY=VALUE, got {item!r}")
        out[key] = _parse_value(value)
    return out


def _start(text: str) -> Any:
    if text in ("random", "default"):
        return None if text == "default" else "random"
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        fail(f"--start takes numbers separated by commas (e.g. 0,0) or 'random', got {text!r}")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description="Watch a small model learn by gradient descent.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    t = sub.add_parser("train", help="train a model and print its trajectory",
                       description="Train a model; flags override the --config file.")
    t.add_argument("--config", type=Path, help="a run config as JSON (see README)")
    t.add_argument("--dataset", help=f"one of: {', '.join(DATASETS)}")
    t.add_argument("--csv", type=Path, help="a CSV file to use as the dataset")
    t.add_argument("--data-option", action="append", metavar="KEY=VALUE",
                   help="dataset option, e.g. n=200 or noise=0.3 (repeatable)")
    t.add_argument("--model", help=f"one of: {', '.join(MODELS)}")
    t.add_argument("--loss", help=f"one of: {', '.join(LOSSES)} (default: fits the model)")
    t.add_argument("--optimizer", help=f"one of: {', '.join(OPTIMIZERS)}")
    t.add_argument("--option", action="append", metavar="KEY=VALUE",
                   help="optimizer hyper-parameter, e.g. momentum=0.9 or betas=[0.9,0.99]")
    t.add_argument("--lr", type=float, help="learning rate")
    t.add_argument("--epochs", type=int)
    t.add_argument("--batch-size", help="rows per step, or 'full'")
    t.add_argument("--start", help="start point, e.g. 0,0 (or 'random')")
    t.add_argument("--seed", type=int)
    t.add_argument("--target-loss", type=float, help="stop at this training loss")
    t.add_argument("--tolerance", type=float, help="stop when the gradient norm is below this")
    t.add_argument("--patience", type=int, help="early stopping on the validation loss")
    t.add_argument("--record-batches", action="store_true",
                   help="include the parameters after each mini-batch step")
    t.add_argument("--format", choices=("table", "csv", "json"), default="table")
    t.add_argument("--out", type=Path, help="write the trajectory to this file")

    s = sub.add_parser("serve", help="start the web app")
    s.add_argument("--host", help="default: 127.0.0.1 (or DESCENT_LAB_HOST)")
    s.add_argument("--port", type=int, help="default: 8000 (or DESCENT_LAB_PORT)")
    s.add_argument("--workers", type=int, default=1)
    return p


def config_from_args(a: argparse.Namespace) -> tuple[dict[str, Any], Any]:
    cfg: dict[str, Any] = {}
    if a.config is not None:
        try:
            cfg = json.loads(a.config.read_text(encoding="utf-8"))
        except OSError as e:
            fail(f"--config: cannot read {a.config}: {e.strerror}")
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            fail(f"--config: {a.config} is not valid JSON ({e})")
        if not isinstance(cfg, dict):
            fail(f"--config: {a.config} must hold a JSON object")
    flags = {"dataset": a.dataset, "model": a.model, "loss": a.loss, "optimizer": a.optimizer,
             "learning_rate": a.lr, "epochs": a.epochs, "seed": a.seed}
    cfg.update({k: v for k, v in flags.items() if v is not None})
    if a.batch_size is not None:
        cfg["batch_size"] = None if a.batch_size == "full" else _parse_value(a.batch_size)
    if a.start is not None:
        cfg["start"] = _start(a.start)
    if a.data_option:
        cfg["dataset_options"] = {**(cfg.get("dataset_options") or {}),
                                  **_key_values(a.data_option, "--data-option")}
    if a.option:
        cfg["optimizer_options"] = {**(cfg.get("optimizer_options") or {}),
                                    **_key_values(a.option, "--option")}
    stop = {"target_loss": a.target_loss, "tolerance": a.tolerance, "patience": a.patience}
    if any(v is not None for v in stop.values()):
        cfg["stop"] = {**(cfg.get("stop") or {}), **{k: v for k, v in stop.items()
                                                       if v is not None}}
    if a.record_batches:
        cfg["record_batches"] = True

    resolver = None
    if a.csv is not None:
        try:
            data = a.csv.read_bytes()
        except OSError as e:
            fail(f"--csv: cannot read {a.csv}: {e.strerror}")
        cfg["dataset"] = f"file:{a.csv.name}"

        def resolver(name, options, _data=data):
            return csv_dataset(_data, options["validation_split"], options["seed"], name)
    for key in ("dataset", "model"):
        if key not in cfg:
            fail(f"--{key} is required (or give it in --config)")
    return cfg, resolver


class Progress:
    """A one-line progress bar on a terminal (nothing when output is not a terminal)."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total, self.stream = total, stream
        self.enabled = stream.isatty()
        self.shown = -1

    def update(self, epoch: int, loss: float) -> None:
        if not self.enabled:
            return
        filled = int(30 * epoch / max(self.total, 1))
        if filled == self.shown and epoch != self.total:
            return
        self.shown = filled
        bar = "#" * filled + "-" * (30 - filled)
        self.stream.write(f"\r[{bar}] epoch {epoch}/{self.total}  loss {loss:.6g}")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\r" + " " * 70 + "\r")
            self.stream.flush()


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def table(param_names: list[str], records: list[dict], rows: int = 21) -> str:
    header = csv_header(param_names)[:-2]
    step = max(1, (len(records) - 1) // (rows - 1))
    shown = records[::step]
    if shown[-1] is not records[-1]:
        shown.append(records[-1])
    cells = [header] + [[_fmt(v) for v in (r["epoch"], *r["params"], r["loss"], r["val_loss"],
                                            *r["grad"], r["grad_norm"])] for r in shown]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True))
                     for row in cells) + "\n"


def cmd_train(a: argparse.Namespace) -> int:
    cfg, resolver = config_from_args(a)
    try:
        run = parse_run(cfg, resolver=resolver)
        training = train(run)
    except ConfigError as e:
        fail(f"--csv {a.csv}: {e.message}" if e.field == "file" else str(e))
    progress = Progress(run.epochs, sys.stderr)
    records = []
    for epoch in training:
        records.append(epoch_dict(epoch))
        progress.update(epoch.epoch, epoch.loss)
    progress.close()
    names = list(run.param_names)
    last = records[-1]
    if a.format == "json":
        body = json.dumps(result_dict(run.config, names, records, training.stop_reason),
                          allow_nan=False) + "\n"
    elif a.format == "csv":
        body = records_csv(names, records)
    else:
        body = table(names, records)
    if a.out is not None:
        try:
            a.out.write_text(body, encoding="utf-8")
        except OSError as e:
            fail(f"--out: cannot write {a.out}: {e.strerror}")
    else:
        sys.stdout.write(body)
    summary = sys.stderr if a.out is None and a.format != "table" else sys.stdout
    params = ", ".join(f"{n} = {v:.6g}" for n, v in zip(names, last["params"], strict=True))
    print(f"{last['epoch']} epochs, stopped: {training.stop_reason} "
          f"({STOP_REASONS[training.stop_reason]})", file=summary)
    print(f"final: {params}; loss = {last['loss']:.6g}", file=summary)
    return 0


def cmd_serve(a: argparse.Namespace) -> int:
    import uvicorn

    from app.config import get_settings

    settings = get_settings()
    uvicorn.run("app.main:app", host=a.host or settings.host, port=a.port or settings.port,
                workers=a.workers, log_level=settings.log_level,
                timeout_graceful_shutdown=settings.graceful_shutdown_seconds,
                ws_max_size=settings.max_message_bytes)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "train":
        return cmd_train(args)
    return cmd_serve(args)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

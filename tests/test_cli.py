"""The command line: `descent-lab train`, in-process and once as a real process."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from app.core.runconfig import parse_run
from app.core.trainer import train

LINE = ["train", "--dataset", "line", "--model", "linear"]


def strict_loads(text: str):
    def refuse(token):
        raise ValueError(f"non-finite token {token}")
    return json.loads(text, parse_constant=refuse)


def expected_final(cfg: dict) -> list:
    """The last record of the same run, computed through the core directly."""
    return list(train(parse_run(cfg)))[-1]


def summary_lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.startswith(("final:", )) or " epochs, " in ln]


def test_table_output_and_summary(capsys):
    assert main([*LINE, "--epochs", "5", "--lr", "0.2"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    last = expected_final({"dataset": "line", "model": "linear", "epochs": 5,
                           "learning_rate": 0.2})
    lines = out.splitlines()
    assert lines[0].split() == ["epoch", "w", "b", "loss", "val_loss", "grad_w", "grad_b",
                                "grad_norm"]
    assert [ln.split()[0] for ln in lines[1:7]] == ["0", "1", "2", "3", "4", "5"]
    assert lines[-2] == "5 epochs, stopped: max_epochs (ran all the epochs asked for)"
    w, b = last.theta
    assert lines[-1] == f"final: w = {w:.6g}, b = {b:.6g}; loss = {last.loss:.6g}"


def test_long_table_is_thinned_but_keeps_the_last_row(capsys):
    assert main([*LINE, "--epochs", "95"]) == 0
    out = capsys.readouterr().out
    rows = [ln.split()[0] for ln in out.splitlines()[1:-2]]
    assert rows[0] == "0" and rows[-1] == "95" and len(rows) < 30  # thinned, ends at the end
    assert len(set(rows)) == len(rows)


def test_csv_format(capsys):
    assert main([*LINE, "--epochs", "12", "--format", "csv", "--optimizer", "adam",
                 "--option", "betas=[0.8,0.9]"]) == 0
    out, err = capsys.readouterr()
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["epoch", "w", "b", "loss", "val_loss", "grad_w", "grad_b", "grad_norm",
                       "learning_rate", "stop_reason"]
    assert len(rows) == 1 + 13
    last = expected_final({"dataset": "line", "model": "linear", "epochs": 12,
                           "optimizer": "adam", "optimizer_options": {"betas": [0.8, 0.9]}})
    assert [float(rows[-1][1]), float(rows[-1][2])] == last.theta.tolist()
    assert rows[-1][-1] == "max_epochs"
    assert "12 epochs, stopped: max_epochs" in err and "final: w = " in err  # summary aside


def test_json_format_is_strict(capsys):
    assert main(["train", "--dataset", "and", "--model", "neuron", "--lr", "0.5",
                 "--epochs", "20", "--start", "0,0,0", "--format", "json"]) == 0
    out, err = capsys.readouterr()
    data = strict_loads(out)
    assert data["param_names"] == ["w1", "w2", "b"]
    assert data["stop_reason"] == "max_epochs" and len(data["records"]) == 21
    assert data["config"]["learning_rate"] == 0.5 and data["config"]["start"] == [0, 0, 0]
    last = expected_final({"dataset": "and", "model": "neuron", "learning_rate": 0.5,
                           "epochs": 20, "start": [0, 0, 0]})
    assert data["records"][-1]["params"] == last.theta.tolist()
    assert "20 epochs" in err


def test_diverged_run_is_strict_json(capsys):
    assert main([*LINE, "--lr", "10", "--format", "json", "--record-batches",
                 "--batch-size", "8"]) == 0
    out, _ = capsys.readouterr()
    data = strict_loads(out)
    assert data["stop_reason"] == "diverged"
    for r in data["records"]:
        for v in [*np.ravel([r["params"], r["grad"]]).tolist(), r["loss"], r["val_loss"]]:
            assert v is not None and np.isfinite(v)


def test_out_file(tmp_path, capsys):
    target = tmp_path / "trajectory.csv"
    assert main([*LINE, "--epochs", "3", "--format", "csv", "--out", str(target)]) == 0
    out, err = capsys.readouterr()
    rows = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert len(rows) == 1 + 4 and rows[0][0] == "epoch"
    assert out.splitlines()[0] == "3 epochs, stopped: max_epochs (ran all the epochs asked for)"
    assert out.splitlines()[1].startswith("final: w = ")
    assert err == ""


def test_config_file_with_a_flag_overriding_it(tmp_path, capsys):
    config = tmp_path / "run.json"
    config.write_text(json.dumps({"dataset": "line", "model": "linear", "epochs": 4,
                                  "learning_rate": 0.3, "optimizer": "momentum",
                                  "dataset_options": {"n": 50, "noise": 0.1}}))
    assert main(["train", "--config", str(config), "--lr", "0.05", "--data-option", "seed=7",
                 "--format", "json"]) == 0
    data = strict_loads(capsys.readouterr().out)
    cfg = data["config"]
    assert cfg["learning_rate"] == 0.05  # the flag wins
    assert cfg["epochs"] == 4 and cfg["optimizer"] == "momentum"  # the file's
    assert cfg["dataset_options"]["n"] == 50 and cfg["dataset_options"]["noise"] == 0.1
    assert cfg["dataset_options"]["seed"] == 7  # merged with the file's options
    assert len(data["records"]) == 5


def test_stop_flags(capsys):
    assert main([*LINE, "--epochs", "1000", "--target-loss", "0.5", "--format", "json"]) == 0
    data = strict_loads(capsys.readouterr().out)
    assert data["stop_reason"] == "target_loss" and data["records"][-1]["loss"] <= 0.5


def test_good_csv(tmp_path, capsys):
    path = tmp_path / "hours.csv"
    path.write_text("hours,passed\n0.5,0\n1,0\n1.5,0\n2,1\n2.5,1\n3,1\n")
    assert main(["train", "--csv", str(path), "--model", "logistic", "--epochs", "30",
                 "--format", "json"]) == 0
    data = strict_loads(capsys.readouterr().out)
    assert data["config"]["dataset"] == "file:hours.csv"
    assert data["config"]["loss"] == "cross-entropy" and len(data["records"]) == 31


def one_line_error(capsys, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert err.startswith("descent-lab: error: ")
    return err


@pytest.mark.parametrize(("content", "words"), [
    ("hours,passed\n1,0\n2,x\n", ["line 3", "'passed'", "'x'"]),
    ("hours,passed\n1,0\n", ["at least 2"]),
    ("hours,passed\n1,0\n2,1,5\n", ["line 3"]),
    ("a,b,c,d\n1,2,3,0\n1,2,3,1\n", ["3 feature columns"]),
    ("hours,passed\n1,0\n2,2\n3,1\n", ["line 3", "'passed'"]),  # labels not 0/1
])
def test_bad_csv(tmp_path, capsys, content, words):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    err = one_line_error(capsys, ["train", "--csv", str(path), "--model", "logistic"])
    for w in words:
        assert w in err


@pytest.mark.parametrize(("argv", "words"), [
    ([], ["command"]),
    (["fly"], ["fly"]),
    (["train", "--model", "linear"], ["--dataset"]),
    (["train", "--dataset", "line"], ["--model"]),
    ([*LINE, "--lr", "fast"], ["--lr"]),
    ([*LINE, "--lr", "0"], ["learning_rate"]),
    ([*LINE, "--lr", "nan"], ["learning_rate"]),
    ([*LINE, "--epochs", "0"], ["epochs"]),
    ([*LINE, "--epochs", "1e3"], ["--epochs"]),
    (["train", "--dataset", "iris", "--model", "linear"], ["dataset", "iris"]),
    (["train", "--dataset", "line", "--model", "logistic"], ["labels"]),
    ([*LINE, "--optimizer", "lbfgs"], ["optimizer"]),
    ([*LINE, "--option", "momentum"], ["--option", "KEY=VALUE"]),
    ([*LINE, "--option", "warp=9"], ["optimizer_options.warp"]),
    ([*LINE, "--start", "1,x"], ["--start"]),
    ([*LINE, "--start", "1,2,3"], ["start"]),
    ([*LINE, "--batch-size", "0"], ["batch_size"]),
    ([*LINE, "--format", "xml"], ["--format"]),
    ([*LINE, "--patience", "3", "--data-option", "validation_split=0"], ["stop.patience"]),
    ([*LINE, "--csv", "/nonexistent/file.csv"], ["--csv", "cannot read"]),
    ([*LINE, "--config", "/nonexistent/run.json"], ["--config", "cannot read"]),
])
def test_bad_arguments_exit_2_with_one_line(capsys, argv, words):
    err = one_line_error(capsys, argv)
    for w in words:
        assert w in err, err


def test_bad_config_files(tmp_path, capsys):
    broken = tmp_path / "broken.json"
    broken.write_text('{"dataset": "line",\n "model": }')
    assert "not valid JSON" in one_line_error(capsys, ["train", "--config", str(broken)])
    listed = tmp_path / "list.json"
    listed.write_text('["line"]')
    assert "JSON object" in one_line_error(capsys, ["train", "--config", str(listed)])
    unknown = tmp_path / "unknown.json"
    unknown.write_text('{"dataset": "line", "model": "linear", "colour": "red"}')
    assert "colour" in one_line_error(capsys, ["train", "--config", str(unknown)])


def command() -> list[str]:
    script = Path(sys.executable).parent / "descent-lab"
    return [str(script)] if script.exists() else [sys.executable, "-m", "app.cli"]


def test_real_process(tmp_path):
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    done = subprocess.run([*command(), *LINE, "--epochs", "7", "--format", "csv"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr
    rows = list(csv.reader(io.StringIO(done.stdout)))
    assert rows[0][0] == "epoch" and len(rows) == 1 + 8  # header + epochs 0..7
    assert done.stderr.splitlines()[0] == ("7 epochs, stopped: max_epochs "
                                           "(ran all the epochs asked for)")
    bad = subprocess.run([*command(), *LINE, "--epochs", "-1"], capture_output=True,
                         text=True, env=env, cwd=tmp_path, check=False)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.count("\n") == 1 and "epochs" in bad.stderr

"""Progress in a batch job: where stderr is not a terminal, one plain line per logged step
(no carriage return); on a terminal, the tqdm bar."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from energykit.train import Trainer, load_config
from energykit.train import log as train_log
from energykit.train.log import duration, log_line

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes" / "toy2d" / "eqm.yaml"
TINY = [
    "net.width=16",
    "net.depth=1",
    "train.batch=8",
    "train.log_every=2",
    "train.steps=6",
    "train.eval_every=0",
]
LINE = re.compile(r"^step (\d+)/6  loss [-+.\de]+  .*step/s  eta \d+(m\d\ds|s)$")


def test_one_line_per_logged_step_when_stderr_is_not_a_terminal(tmp_path, capsys):
    Trainer(load_config(None, TINY), tmp_path, progress=True).fit()
    err = capsys.readouterr().err
    assert "\r" not in err
    steps = [int(m.group(1)) for m in map(LINE.match, err.splitlines()) if m]
    assert steps == [2, 4, 6], err


def test_no_progress_prints_nothing(tmp_path, capsys):
    Trainer(load_config(None, TINY), tmp_path, progress=False).fit()
    assert capsys.readouterr().err == ""


def test_a_terminal_gets_the_bar(tmp_path, monkeypatch):
    monkeypatch.setattr(train_log, "interactive", lambda: True)
    bar = train_log.Progress(True, initial=0, total=4)
    assert bar.bar is not None and not bar.lines
    bar.close()
    monkeypatch.setattr(train_log, "interactive", lambda: False)
    lines = train_log.Progress(True, initial=0, total=4)
    assert lines.bar is None and lines.lines


def test_log_line_and_duration():
    metrics = {"loss": 0.0421337, "grad_norm": 1.25, "it_per_s": 4.0, "elapsed_s": 3.0}
    assert log_line(100, 1000, metrics) == (
        "step 100/1000  loss 0.04213  grad_norm 1.25  4 step/s  eta 3m45s"
    )
    assert [duration(s) for s in (5.4, 75, 3725)] == ["5s", "1m15s", "1h02m"]


@pytest.mark.slow
def test_piped_energykit_train_writes_lines(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "energykit", "train", str(RECIPE), "--out", str(tmp_path), *TINY],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stderr
    assert [m.group(1) for m in map(LINE.match, done.stderr.splitlines()) if m] == [
        "2",
        "4",
        "6",
    ]

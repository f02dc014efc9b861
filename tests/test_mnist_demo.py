"""`make mnist-demo` at tiny sizes: both recipes train in two workers, every row is scored,
the grid is drawn, and the real cells show digits of the models' labels."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def test_mnist_demo_writes_its_table_and_grid(tmp_path):
    # A subprocess, as `make mnist-demo` runs it (its two workers are spawned processes).
    env = {**os.environ, "ENERGYKIT_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    out = tmp_path / "demo"
    args = ["--out", str(out), "--train-steps", "2", "--n-samples", "16"]
    script = ROOT / "recipes/demo/mnist.py"
    subprocess.run([sys.executable, str(script), *args], check=True, env=env, cwd=ROOT)
    report = out / "report.md"
    rows = json.loads((out / "metrics.json").read_text())["rows"]
    labels = [r["model / sampler"] for r in rows]
    assert labels[0] == "real test digits (floor)" and len(rows) == 1 + 3 + 3
    assert [r["nfe_per_sample"] for r in rows[1:]] == [250, 25, 10, 250, 25, 10]
    assert all("memorization" in r and "fid_proxy" in r for r in rows)
    assert (out / "grid.png").stat().st_size > 0 and "grid.png" in report.read_text()
    eqm, fm = (torch.load(out / k / "grid.pt") for k in ("eqm", "fm"))
    assert torch.equal(eqm["y"], fm["y"]) and torch.equal(eqm["y"], torch.arange(16) % 10)
    assert (out / "eqm" / "last.pt").is_file() and (out / "fm" / "last.pt").is_file()
    # Scoring the trained checkpoints again reproduces every row but the timings.
    again = tmp_path / "again"
    ckpts = ["--checkpoints", str(out / "eqm" / "last.pt"), str(out / "fm" / "last.pt")]
    rerun = [sys.executable, str(script), "--out", str(again), "--n-samples", "16", *ckpts]
    subprocess.run(rerun, check=True, env=env, cwd=ROOT)
    timed = {"sample_seconds", "train_seconds"}
    rows2 = json.loads((again / "metrics.json").read_text())["rows"]
    assert [{k: v for k, v in r.items() if k not in timed} for r in rows2] == [
        {k: v for k, v in r.items() if k not in timed} for r in rows
    ]

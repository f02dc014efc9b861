"""The `make demo` and `make toy-demo` programs in `recipes/demo/` write their reports at tiny
sizes (their full-size numbers are in `recipes/digits/README.md` and `recipes/toy2d/README.md`)."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

DEMOS = Path(__file__).resolve().parents[1] / "recipes" / "demo"


def _main(name: str):
    return runpy.run_path(str(DEMOS / f"{name}.py"))["main"]


def test_digits_demo_writes_report(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ENERGYKIT_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "demo"
    args = ["--out", str(out), "--train-steps", "8", "--n-samples", "32", "--no-progress"]
    path = _main("digits")([*args, "--g-min", "1e9"])  # all stop at once: no short row
    assert path == out / "report.md"
    text = path.read_text()
    assert "| model / sampler |" in text and "FM, Euler 250 steps" in text
    for png in ("real.png", "eqm.png", "eqm_adaptive.png", "fm.png", "steps_hist.png"):
        assert (out / png).stat().st_size > 1000, png
    rows = json.loads((out / "metrics.json").read_text())["rows"]
    labels = [r["model / sampler"] for r in rows]
    assert labels[0] == "real test digits (floor)" and len(labels) == 7
    adaptive = rows[2]
    assert labels[3:5] == ["EqM, few-step default, 25 steps", "EqM, few-step default, 10 steps"]
    assert [r["nfe_per_sample"] for r in rows[3:5]] == [25.0, 10.0]
    assert adaptive["nfe_per_sample"] == 1.0  # one look at each sample, then it stops
    assert (out / "eqm" / "last.pt").is_file() and (out / "fm" / "last.pt").is_file()
    assert f"report: {path.resolve()}" in capsys.readouterr().out


def test_toy_demo_trains_the_recipe_and_writes_its_report(tmp_path, capsys):
    args = ["--out", str(tmp_path / "toy"), "--train-steps", "20", "--n-samples", "64"]
    out = _main("toy2d")([*args, "--no-progress", "train.log_every=10"])
    assert (out / "samples.png").stat().st_size > 10_000
    summary = json.loads((out / "metrics.json").read_text())
    labels = [r["sampler"] for r in summary["rows"]]
    assert labels[:4] == ["data (fresh draw)", "gd", "nag", "nag + g_min"]
    assert labels[4].startswith("nag, ")
    cfg = summary["config"]  # the recipe, with the demo's settings and the overrides
    assert cfg["data"]["name"] == "8gaussians" and cfg["net"]["width"] == 256
    assert cfg["train"]["batch"] == 512 and cfg["train"]["steps"] == 20
    assert cfg["sample"]["lr"] == 0.05 and cfg["sample"]["n"] == 64
    assert summary["final_loss"] is not None
    assert "| sampler |" in (out / "metrics.md").read_text()
    assert (out / "eqm" / "last.pt").is_file()
    assert f"report: {out.resolve()}" in capsys.readouterr().out


def test_fewstep_study_writes_its_tables_and_figure(tmp_path, monkeypatch):
    monkeypatch.setenv("ENERGYKIT_CACHE", str(tmp_path / "cache"))
    study = runpy.run_path(str(DEMOS.parent / "fewstep" / "run.py"))["main"]
    out = tmp_path / "fewstep"
    study(["--out", str(out), "--seeds", "0", "1", "--train-steps", "4", "--n", "24", "--smoke"])
    text = (out / "report.md").read_text()
    assert "| EqM | default (auto) | 0 |" in text and "| FM | ab2 | 1 |" in text
    assert "+ calibration" in text and "calibrated on seed 0 | 1 |" in text
    assert (out / "fewstep.png").stat().st_size > 10_000
    rows = json.loads((out / "rows.json").read_text())
    auto = [r for r in rows if r["sampler"] == "default (auto)"]
    assert sorted({r["nfe"] for r in auto}) == [3.0, 5.0]  # honest NFE: the budget, exactly
    assert {"R", "guardrails", "nn_ratio", "class_entropy", "escaped"} <= rows[0].keys()
    assert (out / "solver-eqm-s0-k5.json").is_file()

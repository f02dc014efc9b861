"""`make demo` (digits, EqM vs FM) writes its report at tiny sizes."""

from __future__ import annotations

import json

from energykit.demo import main


def test_digits_demo_writes_report(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ENERGYKIT_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "demo"
    args = ["--out", str(out), "--train-steps", "8", "--n-samples", "32", "--no-progress"]
    path = main([*args, "--g-min", "1e9"])  # everything stops at once: the short row is skipped
    assert path == out / "report.md"
    text = path.read_text()
    assert "| model / sampler |" in text and "FM, Euler 250 steps" in text
    for png in ("real.png", "eqm.png", "eqm_adaptive.png", "fm.png", "steps_hist.png"):
        assert (out / png).stat().st_size > 1000, png
    rows = json.loads((out / "metrics.json").read_text())["rows"]
    labels = [r["model / sampler"] for r in rows]
    assert labels[0] == "real test digits (floor)" and len(labels) == 6
    adaptive = rows[2]
    assert labels[3] == "EqM, NAG-GD 25 steps"
    assert adaptive["nfe_per_sample"] == 1.0  # one look at each sample, then it stops
    assert (out / "eqm" / "last.pt").is_file() and (out / "fm" / "last.pt").is_file()
    assert f"report: {path.resolve()}" in capsys.readouterr().out

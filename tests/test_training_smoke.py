"""End-to-end: EqM learns 8 Gaussians in seconds, and NAG-GD from noise lands on the modes."""

from __future__ import annotations

import json

import torch

import energykit as ek
from energykit.data import eight_gaussians_modes
from energykit.metrics import mode_stats
from energykit.toy_demo import DemoConfig, main, train_eqm


def test_eqm_learns_eight_gaussians_and_nag_lands_on_modes():
    cfg = DemoConfig(train_steps=3000, batch=256, width=128, depth=2, seed=0)
    field, losses = train_eqm(cfg)
    assert sum(losses[-100:]) < sum(losses[:100])
    x0 = torch.randn(2000, 2, generator=torch.Generator().manual_seed(123))
    result = ek.Descender(field, "nag", lr=0.05, momentum=0.3, steps=250, g_min=0.05).run(x0)
    stats = mode_stats(result.x, eight_gaussians_modes(), radius=0.5)
    assert stats.hit_rate >= 0.9, stats
    assert stats.modes_covered == 8
    # Adaptive compute spends far fewer evaluations than the fixed budget.
    assert result.nfe_total < 0.5 * 250 * 2000


def test_demo_writes_its_report(tmp_path, capsys):
    out = main(["--out", str(tmp_path / "demo"), "--train-steps", "20", "--n-samples", "64"])
    assert (out / "samples.png").stat().st_size > 10_000
    summary = json.loads((out / "metrics.json").read_text())
    labels = [r["sampler"] for r in summary["rows"]]
    assert labels[:4] == ["data (fresh draw)", "gd", "nag", "nag + g_min"]
    assert labels[4].startswith("nag, ")
    assert "| sampler |" in (out / "metrics.md").read_text()
    assert f"report: {out.resolve()}" in capsys.readouterr().out

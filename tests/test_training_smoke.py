"""End-to-end: EqM learns 8 Gaussians in seconds, and NAG-GD from noise lands on the modes."""

from __future__ import annotations

from pathlib import Path

import torch

import energykit as ek
from energykit.data import eight_gaussians_modes
from energykit.metrics import mode_stats
from energykit.train import Trainer, load_config

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "toy2d" / "eqm.yaml"


def test_eqm_learns_eight_gaussians_and_nag_lands_on_modes():
    overrides = ["net.width=128", "net.depth=2", "train.batch=256", "train.log_every=1"]
    trainer = Trainer(load_config(RECIPE, overrides), progress=False)
    losses = [r["loss"] for r in trainer.fit()]
    assert sum(losses[-100:]) < sum(losses[:100])
    field = ek.ImplicitField(trainer.state.model).eval()
    x0 = torch.randn(2000, 2, generator=torch.Generator().manual_seed(123))
    result = ek.Descender(field, "nag", lr=0.05, momentum=0.3, steps=250, g_min=0.05).run(x0)
    stats = mode_stats(result.x, eight_gaussians_modes(), radius=0.5)
    assert stats.hit_rate >= 0.9, stats
    assert stats.modes_covered == 8
    # Adaptive compute spends far fewer evaluations than the fixed budget.
    assert result.nfe_total < 0.5 * 250 * 2000

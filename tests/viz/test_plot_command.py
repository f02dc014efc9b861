"""`energykit plot` of a 2-D checkpoint draws through `viz.save_landscape`: samples, the
descent field for EqM, and the steps histogram only when the samples used adaptive compute."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from energykit.cli import main
from energykit.train import Trainer, load_config

RECIPES = Path(__file__).resolve().parents[2] / "recipes" / "toy2d"


@pytest.mark.parametrize(
    ("recipe", "overrides", "panels"),
    [
        ("eqm", [], 2),  # samples, -grad E (a fixed budget: no steps histogram)
        ("eqm", ["sample.g_min=0.5"], 3),  # and the adaptive-compute histogram
        ("fm", [], 1),  # a velocity has no landscape to draw
    ],
)
def test_plot_of_a_toy_checkpoint_has_a_panel_per_thing_drawn(tmp_path, recipe, overrides, panels):
    tiny = ["train.steps=4", "net.width=16", "net.depth=1", "sample.n=64", "sample.steps=5"]
    cfg = load_config(RECIPES / f"{recipe}.yaml", [*tiny, *overrides])
    Trainer(cfg, tmp_path / "run", progress=False).fit()
    out = tmp_path / "toy.png"
    assert main(["plot", str(tmp_path / "run" / "last.pt"), "--out", str(out)]) == 0
    with Image.open(out) as img:
        assert round(img.width / (5 * 110)) == panels  # save_landscape: 5 inches a panel

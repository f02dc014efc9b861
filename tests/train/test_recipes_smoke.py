"""Every recipe trains, samples and scores at tiny sizes; the study runner smoke-runs."""

from __future__ import annotations

import json
import math
import runpy
from pathlib import Path

import pytest
import torch

from energykit.sampling import generate
from energykit.train import Trainer, load_config
from energykit.train.evaluate import score_samples

ROOT = Path(__file__).resolve().parents[2]
# ImageNet recipes need a latent folder: tests/train/test_imagenet_recipes.py.
RECIPES = sorted(p for p in (ROOT / "recipes").glob("*/*.yaml") if p.parent.name != "imagenet256")


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_recipe_smoke(recipe):
    tiny = ["train.steps=2", "train.batch=8", "net.width=16", "net.depth=1", "net.channels=[8, 8]"]
    cfg = load_config(recipe, tiny)
    trainer = Trainer(cfg, progress=False)
    trainer.fit()
    model = trainer.trained()
    s = generate(
        model.sampleable(), model.shape, cfg.sample, n=16, steps=3, num_classes=model.num_classes
    )
    assert s.x.shape == (16, *trainer.data.shape) and bool(torch.isfinite(s.x).all())
    scores = score_samples(s.x, trainer.data)
    assert all(math.isfinite(v) for v in scores.values())


def test_recipe_families_share_backbone_and_budget():
    for family in ("digits", "mnist"):
        cfgs = {p.stem: load_config(p) for p in (ROOT / "recipes" / family).glob("*.yaml")}
        for conv in (False, True):
            same = [c for name, c in cfgs.items() if name.startswith("unet") is conv]
            keys = {repr((c.net, c.data, c.train.steps, c.train.batch, c.optim)) for c in same}
            assert len(keys) == 1, (family, conv)


def test_study_quick_run(tmp_path, monkeypatch):
    monkeypatch.setenv("ENERGYKIT_CACHE", str(tmp_path / "cache"))
    study = runpy.run_path(str(ROOT / "recipes/study/run_study.py"))
    study["main"](["--out", str(tmp_path / "s"), "--quick", "--only", "digits-main-eqm"])
    result = json.loads((tmp_path / "s/results/digits-main-eqm-s0.json").read_text())
    whats = {row["what"] for row in result["evals"]["3x"]}
    assert whats == {"nfe", "step-size", "optimiser", "adaptive"}
    tables = runpy.run_path(str(ROOT / "recipes/study/tables.py"))
    text = tables["render"](tmp_path / "s")
    assert "| EqM (NAG-GD) | 1x |" in text and "### Adaptive compute" in text

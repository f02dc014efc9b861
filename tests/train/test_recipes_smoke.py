"""Every recipe trains, samples and scores at tiny sizes; the study runner smoke-runs."""

from __future__ import annotations

import json
import math
import runpy
import shutil
from pathlib import Path

import pytest
import torch

from energykit.sampling import generate
from energykit.train import Trainer, load_config
from energykit.train.scoring import score_samples

ROOT = Path(__file__).resolve().parents[2]
# Recipes of local data: ImageNet latents (tests/train/test_imagenet_recipes.py), an image
# folder and CIFAR-10 (tests/train/test_file_recipes.py).
LOCAL = ("imagenet256", "folder", "cifar10")
RECIPES = sorted(p for p in (ROOT / "recipes").glob("*/*.yaml") if p.parent.name not in LOCAL)


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


def test_study_writes_each_budget_and_resumes_a_partial_job(tmp_path, monkeypatch):
    monkeypatch.setenv("ENERGYKIT_CACHE", str(tmp_path / "cache"))
    study = runpy.run_path(str(ROOT / "recipes/study/run_study.py"))
    out, job = tmp_path / "s", "mnist-unet-fm-s0"
    study["main"](["--out", str(out), "--quick", "--only", job])
    path = out / "results" / f"{job}.json"
    full = json.loads(path.read_text())
    assert not full["partial"] and set(full["evals"]) == {"1x", "3x"}
    assert {r["what"] for r in full["evals"]["1x"]} == {"nfe", "fewstep", "step-size"}
    assert {r["sampler"] for r in full["evals"]["1x"] if r["what"] == "fewstep"} == {"ab2"}
    # An interrupted job: 1x scored (marked), 3x not yet. The rerun keeps 1x and adds 3x.
    marked = [{**r, "mark": 1} for r in full["evals"]["1x"]]
    path.write_text(json.dumps({**full, "evals": {"1x": marked}, "partial": True}))
    shutil.rmtree(out / "runs" / job)  # and its checkpoints are gone: it trains again
    study["main"](["--out", str(out), "--quick", "--only", job])
    again = json.loads(path.read_text())
    assert not again["partial"] and again["evals"]["1x"] == marked

    def untimed(rows):
        return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]

    # Seeded training gives the same 3x model, so the same scores.
    assert untimed(again["evals"]["3x"]) == untimed(full["evals"]["3x"])

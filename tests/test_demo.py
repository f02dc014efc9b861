"""The `make demo` and `make toy-demo` programs in `recipes/demo/` write their reports at tiny
sizes (their full-size numbers are in `recipes/digits/README.md` and `recipes/toy2d/README.md`)."""

from __future__ import annotations

import dataclasses
import json
import runpy
from pathlib import Path

import pytest
import torch

from energykit.descent.fewstep import JUMP, Landscape, plateau_length
from energykit.fields import Quadratic
from energykit.sampling.plan import descender_for
from energykit.train import load_config

DEMOS = Path(__file__).resolve().parents[1] / "recipes" / "demo"
TOY_RECIPE = DEMOS.parent / "toy2d" / "eqm.yaml"


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
    cfg = summary["config"]  # the recipe as it is, then the flags and the overrides
    assert cfg["data"]["name"] == "8gaussians" and cfg["net"]["width"] == 256
    assert cfg["train"]["batch"] == 256 and cfg["train"]["steps"] == 20
    assert cfg["sample"]["lr"] is None and cfg["sample"]["lr_scale"] == 1.0
    assert cfg["sample"]["g_min"] is None and cfg["sample"]["n"] == 64
    # The adaptive row's threshold: the recipe sets no g_min, so the demo's default.
    assert summary["g_min"] == runpy.run_path(str(DEMOS / "toy2d.py"))["G_MIN"]
    assert summary["final_loss"] is not None
    assert "| sampler |" in (out / "metrics.md").read_text()
    assert (out / "eqm" / "last.pt").is_file()
    assert f"report: {out.resolve()}" in capsys.readouterr().out


def test_toy_demo_samples_with_the_recipes_sample_section_unchanged():
    demo = runpy.run_path(str(DEMOS / "toy2d.py"))
    recipe = load_config(TOY_RECIPE)
    args = demo["argparse"].Namespace(
        recipe=TOY_RECIPE, seed=0, train_steps=None, n_samples=None, dataset=None, overrides=[]
    )
    cfg = demo["config_from_args"](args)  # no flags: what `make toy-demo` runs
    assert cfg.sample == recipe.sample and cfg.train == recipe.train
    # The demo's GD / NAG-GD step is the one `energykit sample` takes at the recipe's budget.
    assert demo["step_size"](cfg.sample) == pytest.approx(0.425 / 250)
    assert demo["step_size"](cfg.sample) == pytest.approx(_toy_steps(250, None)[0])


def _toy_steps(steps: int, landscape: Landscape | None) -> list[float]:
    """The per-step sizes `energykit sample` takes for the toy recipe at `steps`."""
    cfg = dataclasses.replace(load_config(TOY_RECIPE).sample, steps=steps)
    return descender_for(Quadratic(torch.eye(2)), cfg, landscape).step_sizes


@pytest.mark.parametrize("landscape", [None, Landscape(0.8, 4.0)], ids=["generic", "trained"])
def test_toy_recipe_takes_the_budgets_default_step(landscape):
    recipe = load_config(TOY_RECIPE).sample
    assert recipe.sampler == "auto" and recipe.steps == 250 and recipe.lr is None
    assert recipe.lr_scale == 1.0  # larger steps collapse the samples (recipes/toy2d/README.md)
    assert load_config(TOY_RECIPE).train.batch == 256
    # At the paper's budget `auto` is NAG-GD at 0.425 / K: 0.0017.
    assert _toy_steps(250, landscape) == pytest.approx([0.425 / 250] * 250)
    if landscape is None:  # no c(gamma): NAG-GD at every budget, still 0.425 / K
        assert _toy_steps(25, None) == pytest.approx([0.425 / 25] * 25)
    else:  # a trained model below 250 steps: the few-step AB2 schedule
        plateau = plateau_length(25) * 0.8 / 4.0 / 24
        jump = JUMP * 0.2 / 4.0
        assert _toy_steps(25, landscape) == pytest.approx([plateau] * 24 + [jump])


def test_toy_demo_g_min_defaults_to_the_recipes_then_the_demos():
    demo = runpy.run_path(str(DEMOS / "toy2d.py"))
    rule, default = demo["adaptive_g_min"], demo["G_MIN"]
    recipe = load_config(TOY_RECIPE)
    assert recipe.sample.g_min is None and rule(None, recipe) == default
    with_g_min = load_config(TOY_RECIPE, ["sample.g_min=0.7"])
    assert rule(None, with_g_min) == 0.7  # the config's g_min is the flag's default
    assert rule(0.3, with_g_min) == 0.3 and rule(0.3, recipe) == 0.3  # the flag wins


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


def test_ot_study_writes_its_table(tmp_path, monkeypatch):
    monkeypatch.setenv("ENERGYKIT_CACHE", str(tmp_path / "cache"))
    study = runpy.run_path(str(DEMOS.parent / "ot" / "run.py"))["main"]
    out = tmp_path / "ot"
    study(["--out", str(out), "--train-steps", "2", "--n", "16", "--couplings", "none", "ot"])
    text = (out / "report.md").read_text()
    assert "| model | sampler | seed | none | ot |" in text
    assert "| EqM | default (auto) K=5 | 0 |" in text and "| FM | AB2 10 | 0 |" in text
    rows = json.loads((out / "rows.json").read_text())
    assert {(r["model"], r["coupling"]) for r in rows} == {
        (m, c) for m in ("EqM", "FM") for c in ("none", "ot")
    }
    assert load_config(out / "runs" / "fm-ot-s0" / "config.json").objective.coupling == "ot"

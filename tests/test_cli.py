"""The `energykit` command end to end, and its config errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from energykit.cli import load_samples, main

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
TINY = ["train.steps=6", "net.width=16", "net.depth=1", "train.batch=8", "--no-progress"]


def test_train_sample_evaluate_plot(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", str(RECIPES / "digits/eqm.yaml"), "--out", str(run), *TINY]) == 0
    assert (run / "last.pt").is_file() and (run / "log.jsonl").is_file()
    samples = tmp_path / "s.pt"
    args = ["sample", str(run / "last.pt"), "--out", str(samples), "--n", "16", "--steps", "4"]
    assert main([*args, "--sampler", "gd", "--lr", "0.01"]) == 0
    x, meta = load_samples(samples)
    assert x.shape == (16, 1, 8, 8) and meta["nfe_total"] == 64 and meta["dataset"] == "digits"
    npz = tmp_path / "s.npz"
    assert main([*args[:3], str(npz), *args[4:], "--g-min", "1e9"]) == 0
    x2, meta2 = load_samples(npz)
    assert x2.shape == (16, 1, 8, 8) and meta2["nfe_total"] == 16  # all stop after one look
    capsys.readouterr()
    assert main(["evaluate", str(samples), "--json", "-"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert {"fid_proxy", "class_entropy", "sw", "mmd", "escaped"} <= metrics.keys()
    assert "fid" not in metrics  # the proxy is never called FID
    assert main(["evaluate", str(samples), "--json", str(tmp_path / "m.json")]) == 0
    assert "| fid_proxy " in capsys.readouterr().out  # the table still prints
    assert json.loads((tmp_path / "m.json").read_text()) == metrics
    assert main(["evaluate", str(samples), "--ref", str(npz)]) == 0
    assert main(["plot", str(samples), "--out", str(tmp_path / "grid.png")]) == 0
    assert (tmp_path / "grid.png").stat().st_size > 1000


def test_sampling_is_reproducible_and_matches_the_recipe_sampler(tmp_path):
    run = tmp_path / "run"
    main(["train", str(RECIPES / "digits/fm.yaml"), "--out", str(run), *TINY])
    for name in ("a.pt", "b.pt"):
        main(
            [
                "sample",
                str(run / "last.pt"),
                "--out",
                str(tmp_path / name),
                "--n",
                "8",
                "--steps",
                "3",
            ]
        )
    a, meta = load_samples(tmp_path / "a.pt")
    b, _ = load_samples(tmp_path / "b.pt")
    assert torch.equal(a, b) and meta["sampler"]["sampler"] == "euler" and meta["nfe_total"] == 24


def test_train_resumes_and_plot_of_a_toy_checkpoint(tmp_path):
    run = tmp_path / "toy"
    recipe = str(RECIPES / "toy2d/eqm.yaml")
    assert main(["train", recipe, "--out", str(run), *TINY]) == 0
    assert main(["train", recipe, "--out", str(run), *TINY[1:], "train.steps=9"]) == 0
    lines = (run / "log.jsonl").read_text().splitlines()
    starts = [json.loads(s) for s in lines if '"event"' in s]
    assert [s["step"] for s in starts] == [0, 6]
    assert main(["plot", str(run / "last.pt"), "--out", str(tmp_path / "toy.png")]) == 0


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.bf16=yes", "train.bf16: expected true or false, got 'yes'"),
        ("train.bf16=1", "train.bf16: expected true or false, got '1'"),
        ("train.stepz=3", "train.stepz: unknown key"),
        ("optim.lr=fast", "optim.lr: expected a number, got 'fast'"),
        ("optim.lr=-1", "optim.lr: expected a value > 0, got -1.0"),
        ("objective.kind=ddpm", "objective.kind: expected one of 'eqm'"),
        ("sample.sampler=euler", "sample.sampler: EqM models sample by descent"),
        ("net.kind=unet", None),
        ("nosuch.key=1", "unknown section 'nosuch'"),
        ("steps", "unrecognized arguments: steps"),
    ],
)
def test_config_errors_name_key_value_and_expectation(tmp_path, capsys, override, message):
    recipe = RECIPES / ("toy2d/eqm.yaml" if override == "net.kind=unet" else "digits/eqm.yaml")
    try:
        status = main(["train", str(recipe), "--out", str(tmp_path), override, "--no-progress"])
    except SystemExit as exit_:  # argparse's own usage errors
        status = exit_.code
    err = capsys.readouterr().err
    assert status == 2
    assert (message or "net.kind: 'unet' needs an image dataset") in err
    assert not (tmp_path / "last.pt").exists()


def test_unknown_flags_and_missing_files_are_errors(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["sample", "x.pt", "--out", "y.pt", "--stepz", "3"])
    assert main(["sample", str(tmp_path / "none.pt"), "--out", str(tmp_path / "y.pt")]) == 2
    assert "no file at" in capsys.readouterr().err

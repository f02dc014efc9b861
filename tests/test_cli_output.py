"""What the `energykit` commands print: the `evaluate` table and JSON, `--help` defaults,
and `sample`'s progress."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest
import torch

from energykit.cli import main
from energykit.cli.evaluate import COLUMNS
from energykit.cli.parser import build_parser
from energykit.sampling import save_samples
from energykit.train import DataConfig
from energykit.train.data import build_data
from energykit.train.scoring import METRICS, data_floor

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
TOY_KEYS = ["mmd", "sw", "energy", "hit_rate", "modes_covered"]
DIGITS_KEYS = ["escaped", "fid_proxy", "class_entropy", "sw", "mmd", "memorization"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    import os

    os.environ.setdefault("ENERGYKIT_CACHE", str(tmp_path_factory.mktemp("cache")))


def _samples(path: Path, x: torch.Tensor, dataset: str) -> str:
    save_samples(path, {"x": x, "dataset": dataset})
    return str(path)


def _table(out: str) -> tuple[str, list[str], list[list[str]]]:
    """The head lines, column titles and rows of the printed table."""
    head, table = out.strip().split("\n\n")
    lines = table.splitlines()
    cells = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines]
    assert set(lines[1]) <= {"|", "-"}  # the rule under the titles
    return head, cells[0], cells[2:]


def test_toy_table_names_every_metric_and_the_held_out_split(tmp_path, capsys):
    x = torch.randn(200, 2, generator=torch.Generator().manual_seed(0))
    path = _samples(tmp_path / "toy.pt", x, "8gaussians")
    assert main(["evaluate", path]) == 0
    head, columns, rows = _table(capsys.readouterr().out)
    assert tuple(columns) == COLUMNS
    assert COLUMNS == ("metric", "value", "floor", "better", "reference", "what it is")
    assert sorted(r[0] for r in rows) == sorted(TOY_KEYS)  # one row per metric
    assert head == (
        f"200 samples from {path} against the 8gaussians test split (2000 samples)\n"
        "floor: 200 real 8gaussians samples not seen in training, scored the same way"
    )
    floor = data_floor(build_data(DataConfig(name="8gaussians")), 200)
    for name, value, floor_cell, better, ref, what in rows:
        value_of = floor[name]
        assert floor_cell == (f"{value_of:.4g}" if isinstance(value_of, float) else str(value_of))
        assert better == METRICS[name].better and what == METRICS[name].what
        assert ref == (
            "8gaussians test (2000)" if name in ("mmd", "sw", "energy") else "the 8 modes"
        )
        float(value)


def test_digits_table_says_the_proxy_and_the_train_split(tmp_path, capsys, cache):
    x = torch.rand(64, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    path = _samples(tmp_path / "digits.pt", x, "digits")
    assert main(["evaluate", path]) == 0
    head, _, rows = _table(capsys.readouterr().out)
    names = [r[0] for r in rows]
    assert names[0] == "fid_proxy" and sorted(names) == sorted(DIGITS_KEYS)
    assert head.startswith(f"64 samples from {path} against the digits train split (")
    assert head.endswith("floor: 64 real digits samples not seen in training, scored the same way")
    by = {r[0]: r for r in rows}
    assert "not Inception FID" in by["fid_proxy"][5] and by["fid_proxy"][3] == "lower"
    assert by["class_entropy"][3] == "higher" and by["sw"][4].startswith("digits train (")
    assert by["escaped"][4] == by["class_entropy"][4] == "- (samples only)"
    # Uniform noise is far from every digit; 64 real held-out digits sit near ratio 1.
    assert abs(float(by["memorization"][2]) - 1) < 0.1 and by["memorization"][3] == "near 1"
    assert float(by["memorization"][1]) > 1.5
    assert float(by["fid_proxy"][2]) < float(by["fid_proxy"][1])


def test_json_keys_and_json_file(tmp_path, capsys):
    x = torch.randn(100, 2, generator=torch.Generator().manual_seed(1))
    path = _samples(tmp_path / "toy.npz", x, "moons")
    ref = _samples(tmp_path / "ref.pt", x + 0.1, "moons")
    assert main(["evaluate", path, "--json", "-"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert list(data) == ["mmd", "sw", "energy", "n_samples", "reference", "floor"]
    assert data["floor"]["n"] == 100 and set(data["floor"]) == {"mmd", "sw", "energy", "n"}
    assert data["n_samples"] == 100
    assert data["reference"] == {"kind": "dataset", "dataset": "moons", "split": "test", "n": 2000}
    out = tmp_path / "deep" / "m.json"
    assert main(["evaluate", path, "--ref", ref, "--json", str(out)]) == 0
    head, _, rows = _table(capsys.readouterr().out)
    assert head == f"100 samples from {path} against --ref {ref} (100 samples)"
    assert [r[0] for r in rows] == ["sw", "mmd", "energy", "frechet_pixels"]
    written = json.loads(out.read_text())
    assert written["reference"] == {"kind": "file", "path": ref, "n": 100}
    assert {r[0] for r in rows} <= written.keys()


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return {"energykit": parser, **sub.choices}


@pytest.mark.parametrize(
    "name", ["energykit", "train", "sample", "export", "evaluate", "plot", "latents", "refbatch"]
)
def test_help_shows_every_default(name):
    parser = _subparsers()[name]
    text = parser.format_help()
    options = text[text.index("options:") :]
    blocks = re.split(r"\n(?=  -)", options)[1:]
    assert blocks
    for block in blocks:
        flat = " ".join(block.split())
        option = flat.split()[0].rstrip(",")
        action = next(a for a in parser._actions if option in a.option_strings)
        if option == "-h" or action.required:
            continue
        assert "(default" in flat, (name, flat)
        if name == "sample" and action.dest in ("steps", "sampler", "lr", "g_min"):
            assert "(default: the recipe's)" in flat
    if name == "latents":
        assert "DataLoader workers (default: 0)" in " ".join(text.split())


def test_sample_progress_flags(tmp_path, capsys):
    pytest.importorskip("tqdm")
    run = tmp_path / "run"
    tiny = ["train.steps=2", "net.width=8", "net.depth=1", "train.batch=8", "--no-progress"]
    assert main(["train", str(RECIPES / "toy2d/eqm.yaml"), "--out", str(run), *tiny]) == 0
    args = ["sample", str(run / "last.pt"), "--n", "8", "--batch", "4", "--steps", "3"]
    capsys.readouterr()
    assert main([*args, "--out", str(tmp_path / "a.pt"), "--progress"]) == 0
    err = capsys.readouterr().err
    assert "sample batch 1/2:" in err and "/3 [" in err  # a bar over each batch's steps
    assert main([*args, "--out", str(tmp_path / "b.pt")]) == 0  # not a terminal: lines only
    err = capsys.readouterr().err
    assert "sample batch 2/2 done (4 samples)" in err and "/3 [" not in err
    assert main([*args, "--out", str(tmp_path / "c.pt"), "--no-progress"]) == 0
    assert "sample batch" not in capsys.readouterr().err

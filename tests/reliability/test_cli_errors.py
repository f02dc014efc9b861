"""Every user error of the `energykit` command is one line on stderr and exit status 2.

Each case runs `energykit.cli.main` in-process on tiny files; one toy checkpoint (two training
steps) and one samples file are made once for the module.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch

from energykit import cli
from energykit.cli import main
from energykit.nets.dit import DiT
from tests.helpers import TINY_REFERENCE_KW

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "toy2d" / "eqm.yaml"
TINY = ["net.width=16", "net.depth=1", "train.batch=8", "--no-progress"]
NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A trained toy run, a samples file and broken inputs, by placeholder name."""
    root = tmp_path_factory.mktemp("cli")
    run = root / "run"
    steps = ["train.steps=2", "train.ckpt_every=1", "train.keep_every=1"]
    assert main(["train", str(RECIPE), "--out", str(run), *steps, *TINY]) == 0
    samples = root / "s.pt"
    sample = ["--n", "16", "--steps", "2", "--no-progress"]
    assert main(["sample", str(run / "last.pt"), "--out", str(samples), *sample]) == 0
    (root / "bad.yaml").write_text("data: {name: [\n  moons")
    (root / "text.pt").write_text("hello, not a torch file\n")
    (root / "trunc.pt").write_bytes((run / "last.pt").read_bytes()[:300])
    (root / "file.txt").write_text("a file, not a folder\n")
    (root / "folder").mkdir()
    weights = DiT(**TINY_REFERENCE_KW).state_dict()
    # A reference release checkpoint records its arguments (an argparse.Namespace) ...
    args = argparse.Namespace(model="EqM-S/2", ebm="dot")
    torch.save({"model": weights, "ema": weights, "opt": {}, "args": args}, root / "ref.pt")
    # ... or, re-saved without them, holds the weights alone.
    torch.save({"ema": weights}, root / "refplain.pt")
    return {
        "recipe": str(RECIPE),
        "run": str(run),
        "ckpt": str(run / "last.pt"),
        "step1": str(run / "step_0000001.pt"),
        "samples": str(samples),
        "new": str(root / "new"),
        **{
            name.split(".")[0]: str(root / name)
            for name in ("bad.yaml", "text.pt", "trunc.pt", "ref.pt", "refplain.pt")
        },
        "file": str(root / "file.txt"),
        "folder": str(root / "folder"),
    }


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Exit status (argparse's usage errors arrive as `SystemExit`) and stderr."""
    capsys.readouterr()
    try:
        status = main(argv)
    except SystemExit as exit_:
        status = int(exit_.code or 0)
    return status, capsys.readouterr().err


TRAIN = ["train", "{recipe}", "--out", "{new}"]
SAMPLE = ["sample", "{ckpt}", "--out", "{new}/x.pt", "--no-progress"]

CASES = [
    # train: recipes, overrides, devices, run directories, resume
    (["train", "{bad}", "--out", "{new}"], "not valid YAML"),
    (["train", "{folder}", "--out", "{new}"], "recipe"),
    (["train", "{trunc}", "--out", "{new}"], "not a text file"),
    ([*TRAIN, "train.device=tpu"], "train.device"),
    pytest.param([*TRAIN, "train.device=cuda"], "train.device", marks=NO_CUDA),
    ([*TRAIN, "train.device=cuda:x"], "train.device"),
    (["train", "{recipe}", "--out", "{file}", "train.steps=2"], "--out"),
    (["train", "{recipe}", "--out", "{file}/run"], "--out"),
    ([*TRAIN, "train.steps=abc"], "train.steps"),
    ([*TRAIN, "train.steps=-1"], "train.steps"),
    ([*TRAIN, "train.steps=2.5"], "train.steps"),
    ([*TRAIN, "train.steps"], "train.steps"),
    ([*TRAIN, "train.stepz=3"], "train.stepz"),
    ([*TRAIN, "nosuch.key=1"], "nosuch"),
    ([*TRAIN, "=3"], "'=3'"),
    ([*TRAIN, "optim.betas=0.9"], "optim.betas"),
    ([*TRAIN, "sample.sampler=banana"], "sample.sampler"),
    ([*TRAIN, "--resume-from", "{step1}", "--fresh"], "--resume-from"),
    ([*TRAIN, "--resume-from", "{new}/none.pt"], "--resume-from"),
    ([*TRAIN, "--resume-from", "{folder}"], "--resume-from"),
    ([*TRAIN, *TINY, "--resume-from", "{trunc}"], "--resume-from: checkpoint '{trunc}'"),
    ([*TRAIN, *TINY, "--resume-from", "{samples}"], "--resume-from: checkpoint '{samples}'"),
    ([*TRAIN, *TINY, "--resume-from", "{ref}"], "--resume-from '{ref}': a checkpoint of the ref"),
    ([*TRAIN, *TINY, "train.steps=1", "--resume-from", "{ckpt}"], "train.steps"),
    (["train", "{recipe}"], "--out"),
    # sample: devices, numbers, files
    ([*SAMPLE, "--device", "banana"], "--device"),
    pytest.param([*SAMPLE, "--device", "cuda"], "--device", marks=NO_CUDA),
    ([*SAMPLE, "--n", "0"], "--n"),
    ([*SAMPLE, "--steps", "0"], "--steps"),
    ([*SAMPLE, "--batch", "0"], "--batch"),
    ([*SAMPLE, "--lr", "-0.1"], "--lr"),
    ([*SAMPLE, "--lr", "nan"], "--lr"),
    ([*SAMPLE, "--momentum", "-1"], "--momentum"),
    ([*SAMPLE, "--seed", "-1"], "--seed"),
    ([*SAMPLE, "--steps", "two"], "--steps"),
    ([*SAMPLE, "--sampler", "banana"], "--sampler"),
    ([*SAMPLE, "--preset", "EqM-B/2"], "--preset"),
    ([*SAMPLE, "--cfg-scale", "2"], "--cfg-scale (sample.cfg_scale): guidance needs"),
    (["sample", "{ckpt}", "--out", "{file}/x.pt"], "--out"),
    (["sample", "{ckpt}", "--out", "{folder}"], "--out"),
    (["sample", "{ckpt}", "--out", "{new}/x.txt"], "--out"),
    (["sample", "{text}", "--out", "{new}/x.pt"], "text.pt"),
    (["sample", "{trunc}", "--out", "{new}/x.pt"], "trunc.pt"),
    (["sample", "{samples}", "--out", "{new}/x.pt"], "s.pt"),
    # reference checkpoints where energykit's own are expected: the flag that loads them
    (["sample", "{ref}", "--out", "{new}/x.pt"], "pass --reference dot --preset EqM-S/2 (its"),
    (["sample", "{refplain}", "--out", "{new}/x.pt"], "pass --reference HEAD (HEAD: its energy"),
    (["calibrate", "{ref}", "--steps", "2", "--out", "{new}/s.json"], "sample {ref} --reference"),
    (["plot", "{ref}", "--out", "{new}/p.png"], "`energykit sample {ref} --reference dot"),
    (["export", "{ref}", "{new}/d"], "pass --reference dot --preset EqM-S/2 (its"),
    (["export", "{ckpt}", "{file}"], "DIR '{file}': a file; expected a folder"),
    (["export", "{ckpt}", "{new}/d", "--preset", "EqM-S/2"], "--preset: only for reference"),
    (["export", "{samples}", "{new}/d"], "s.pt"),
    (["export", "{ckpt}", "{new}/d", "--solver", "{text}"], "text.pt"),
    (["export", "{ckpt}", "{new}/d", "--vae-scale", "0"], "--vae-scale"),
    (["export", "{ckpt}", "{new}/d", "--vae-scale", "0.5"], "--vae-scale: only with --vae"),
    (["export", "{ckpt}", "{new}/d", "--vae-scale", "0.18215"], "--vae-scale: only with --vae"),
    (
        ["export", "{ckpt}", "{new}/d", "--vae", "org/vae"],
        "--vae: only for latent models (data.name='latents'), got '8gaussians'",
    ),
    (["plot", "{refplain}", "--out", "{new}/p.png"], "sample {refplain} --reference HEAD"),
    (["evaluate", "{ref}"], "SAMPLES '{ref}': a checkpoint of the reference EqM release, not a"),
    (["evaluate", "{samples}", "--ref", "{refplain}"], "--ref '{refplain}': a checkpoint of the"),
    # evaluate: the wrong kind of file, shapes, flags
    (["evaluate", "{ckpt}"], "energykit sample"),
    (["evaluate", "{samples}", "--data", "digits"], "--data"),
    (["evaluate", "{samples}", "--data", "banana"], "--data"),
    (["evaluate", "{samples}", "--ref", "{ckpt}"], "--ref"),
    (["evaluate", "{samples}", "--ref", "{new}/none.pt"], "--ref"),
    (["evaluate", "{samples}", "--ref", "{samples}", "--data", "moons"], "--data"),
    (["evaluate", "{text}"], "text.pt"),
    (["evaluate", "{trunc}"], "trunc.pt"),
    (["evaluate", "{samples}", "--json", "{folder}"], "--json"),
    (["evaluate", "{samples}", "--device", "banana"], "--device"),
    (["evaluate", "{samples}", "--pr-max", "0"], "--pr-max"),
    (["evaluate", "{samples}", "--ref", "{samples}", "--ref-images"], "--ref-images"),
    # plot, refbatch, latents
    (["plot", "{samples}", "--out", "{new}/p.png", "--max-images", "-1"], "--max-images"),
    (["plot", "{samples}", "--out", "{folder}"], "--out"),
    (["plot", "{text}", "--out", "{new}/p.png"], "text.pt"),
    (["refbatch", "{folder}", "--out", "{new}/r.txt"], "--out"),
    (["refbatch", "{folder}", "--out", "{new}/r.npz", "--n", "0"], "--n"),
    (["latents", "{folder}", "--out", "{file}", "--vae", "vae"], "--out"),
    (["latents", "{folder}", "--out", "{new}/lat", "--batch", "0"], "--batch"),
]


@pytest.mark.parametrize(("argv", "names"), CASES)
def test_user_errors_are_one_line_with_status_2(
    files: dict[str, str], capsys: pytest.CaptureFixture[str], argv: list[str], names: str
) -> None:
    status, err = run_cli([a.format(**files) for a in argv], capsys)
    lines = err.strip().splitlines()
    assert status == 2, err
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith(f"energykit {argv[0]}: error: "), err
    assert names.format(**files) in lines[0], err
    assert not Path(files["new"], "last.pt").exists()


@pytest.mark.parametrize("switch", ["flag", "env"])
def test_debug_shows_the_traceback(
    files: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    switch: str,
) -> None:
    argv = ["evaluate", files["ckpt"]]
    if switch == "flag":
        argv = ["--debug", *argv]
    else:
        monkeypatch.setenv("ENERGYKIT_DEBUG", "1")
    status, err = run_cli(argv, capsys)
    assert status == 2
    assert "Traceback" in err
    assert err.strip().splitlines()[-1].startswith("energykit evaluate: error: ")


def test_debug_after_the_subcommand(files: dict[str, str], capsys) -> None:
    status, err = run_cli(["evaluate", files["ckpt"], "--debug"], capsys)
    assert status == 2
    assert "Traceback" in err


def test_unexpected_errors_are_one_line_with_status_1(capsys, monkeypatch) -> None:
    def broken(args: object) -> int:
        raise RuntimeError("internal\nstate")

    monkeypatch.setattr(cli, "cmd_plot", broken)
    monkeypatch.delenv("ENERGYKIT_DEBUG", raising=False)
    status, err = run_cli(["plot", "x.pt", "--out", "p.png"], capsys)
    assert status == 1
    assert err.strip().splitlines() == [
        "energykit plot: error: unexpected RuntimeError: internal state; run with --debug for "
        "the traceback"
    ]


def test_multi_line_user_errors_are_collapsed(capsys, monkeypatch) -> None:
    def broken(args: object) -> int:
        raise ValueError("first line\n  second line\n")

    monkeypatch.setattr(cli, "cmd_plot", broken)
    status, err = run_cli(["plot", "x.pt", "--out", "p.png"], capsys)
    assert (status, err) == (2, "energykit plot: error: first line second line\n")


def test_help_shows_defaults(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["latents", "--help"])
    out = capsys.readouterr().out
    assert "(default: 256)" in out
    assert "(default: None)" not in out


def test_resume_from_a_chosen_checkpoint(files: dict[str, str], tmp_path: Path, capsys) -> None:
    out = tmp_path / "resumed"
    argv = ["train", files["recipe"], "--out", str(out), "train.steps=2", *TINY]
    status, err = run_cli([*argv, "--resume-from", files["step1"]], capsys)
    assert status == 0, err
    assert "steps 1 -> 2" in err
    assert (out / "last.pt").is_file()


def test_a_recipe_value_is_named_by_its_key_not_a_flag() -> None:
    """`sample.KEY` refusals name `--KEY` only when the value came from that flag."""
    from energykit.cli.app import _sample_flag_named
    from energykit.cli.parser import build_parser

    message = "sample.cfg_scale: guidance needs a class-conditional model, got cfg_scale=2.0"
    given = build_parser().parse_args(["sample", "c.pt", "--out", "x.pt", "--cfg-scale", "2"])
    recipe = build_parser().parse_args(["sample", "c.pt", "--out", "x.pt"])
    assert _sample_flag_named(message, given).startswith("--cfg-scale (sample.cfg_scale): ")
    assert _sample_flag_named(message, recipe) == message
    assert _sample_flag_named("sample.nosuch: x", given) == "sample.nosuch: x"

"""Reference EqM checkpoints are recognised (for refusals that name `--reference`), and
nothing else is taken for one."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch

from energykit.interop.identify import ReferenceCheckpoint, identify_reference_checkpoint
from energykit.nets.dit import DiT
from tests.helpers import TINY_REFERENCE_KW


@pytest.fixture(scope="module")
def weights() -> dict[str, torch.Tensor]:
    return DiT(**TINY_REFERENCE_KW).state_dict()


@pytest.mark.parametrize(
    ("args", "want"),
    [
        (argparse.Namespace(model="EqM-XL/2", ebm="l2"), ReferenceCheckpoint("l2", "EqM-XL/2")),
        (argparse.Namespace(model="EqM-tiny", ebm="none"), ReferenceCheckpoint("none", None)),
        (argparse.Namespace(model="EqM-B/2", ebm="cosine"), ReferenceCheckpoint(None, "EqM-B/2")),
        (argparse.Namespace(), ReferenceCheckpoint(None, None)),
        (None, ReferenceCheckpoint(None, None)),
    ],
)
def test_a_full_checkpoint_says_what_its_args_record(tmp_path: Path, weights, args, want):
    path = tmp_path / "ref.pt"
    payload = {"model": weights, "ema": weights, "opt": {}}
    torch.save(payload if args is None else {**payload, "args": args}, path)
    assert identify_reference_checkpoint(path) == want


def test_bare_and_wrapped_state_dicts_are_reference_checkpoints(tmp_path: Path, weights):
    torch.save({f"module.{k}": v for k, v in weights.items()}, tmp_path / "bare.pt")
    assert identify_reference_checkpoint(tmp_path / "bare.pt") == ReferenceCheckpoint(None, None)


def test_other_files_are_not(tmp_path: Path, weights):
    torch.save({"format": "energykit.trainer/1", "ema": weights}, tmp_path / "ours.pt")
    torch.save({"x": torch.zeros(3, 2)}, tmp_path / "samples.pt")
    torch.save(torch.zeros(3), tmp_path / "tensor.pt")
    (tmp_path / "text.pt").write_text("not a torch file")
    for name in ("ours.pt", "samples.pt", "tensor.pt", "text.pt", "missing.pt"):
        assert identify_reference_checkpoint(tmp_path / name) is None, name

"""FSDP2 (`train.parallel=fsdp`) under a 2-process torchrun on CPU (gloo): the same weights as
DDP, exact resume, and a clear refusal for explicit-energy heads."""

from __future__ import annotations

import pytest
import torch

from energykit.train import ConfigError, load_checkpoint, load_config
from tests.train.test_distributed import torchrun

pytestmark = pytest.mark.skipif(
    not torch.distributed.is_available(), reason="torch built without torch.distributed"
)


def test_fsdp_matches_ddp_and_resumes_exactly(tmp_path):
    torchrun("digits/eqm.yaml", tmp_path / "ddp", "train.steps=4")
    torchrun("digits/eqm.yaml", tmp_path / "fsdp", "train.steps=4", "train.parallel=fsdp")
    torchrun("digits/eqm.yaml", tmp_path / "part", "train.steps=2", "train.parallel=fsdp")
    torchrun("digits/eqm.yaml", tmp_path / "part", "train.steps=4", "train.parallel=fsdp")
    ddp, fsdp, part = (
        load_checkpoint(tmp_path / name / "last.pt") for name in ("ddp", "fsdp", "part")
    )
    assert fsdp["step"] == part["step"] == 4
    # Checkpoints hold full (gathered) tensors with the plain model's names.
    assert fsdp["model"].keys() == ddp["model"].keys()
    for key in ("model", "ema"):
        for name, value in ddp[key].items():
            # Same batches and noise; only the reduction order of the gradient average differs.
            torch.testing.assert_close(fsdp[key][name], value, rtol=1e-5, atol=1e-6)
            assert torch.equal(fsdp[key][name], part[key][name]), (key, name)
    # Resumed optimiser state equals the straight run's (the moments were gathered and
    # scattered back correctly).
    s1, s2 = fsdp["optimizer"]["state"], part["optimizer"]["state"]
    for name in s1:
        assert torch.equal(s1[name]["exp_avg_sq"], s2[name]["exp_avg_sq"]), name


def test_fsdp_refused_for_explicit_heads():
    with pytest.raises(ConfigError, match=r"train\.parallel: .fsdp. is refused for explicit"):
        load_config(None, ["objective.kind=eqm-dot", "train.parallel=fsdp"])

"""Sampling from trained nets: default steps, step scaling, chunking and the sampler check."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from energykit.train import SampleConfig, default_lr, generate


class Scale(nn.Module):
    """net(x) = a x (an implicit field with E = a |x|^2 / 2), or a constant velocity."""

    def __init__(self, a: float) -> None:
        super().__init__()
        self.a = a

    def forward(self, x: torch.Tensor, t: torch.Tensor | None = None) -> torch.Tensor:
        return self.a * x if t is None else torch.full_like(x, self.a)


def _noise(cfg: SampleConfig, shape: tuple[int, ...]) -> torch.Tensor:
    return torch.randn((cfg.n, *shape), generator=torch.Generator().manual_seed(cfg.seed))


@pytest.mark.parametrize("scale", [0.5, 1.0, 2.0])
def test_gd_uses_the_default_step_times_the_scale(scale):
    cfg = SampleConfig(sampler="gd", steps=10, n=7, batch=3)
    s = generate(Scale(3.0), "eqm", (2,), cfg, lr_scale=scale)
    lr = default_lr(10) * scale
    assert default_lr(250) == pytest.approx(0.0017)
    torch.testing.assert_close(s.x, _noise(cfg, (2,)) * (1 - lr * 3.0) ** 10)
    assert s.nfe_total == 70 and s.steps is not None and s.steps.tolist() == [10] * 7


def test_explicit_lr_and_fm_time_scaling():
    cfg = SampleConfig(sampler="gd", steps=5, n=4, lr=0.1)
    s = generate(Scale(1.0), "eqm", (3,), cfg)
    torch.testing.assert_close(s.x, _noise(cfg, (3,)) * 0.9**5)
    fm = SampleConfig(sampler="euler", steps=4, n=4)
    out = generate(Scale(1.0), "fm", (3,), fm, lr_scale=2.5)  # integrates to t = 2.5
    torch.testing.assert_close(out.x, _noise(fm, (3,)) + 2.5)
    assert out.steps is None and out.nfe_mean == 4


def test_sampler_must_match_the_objective():
    with pytest.raises(ValueError, match="'fm' models sample with euler or heun"):
        generate(Scale(1.0), "fm", (2,), SampleConfig(sampler="nag"))
    with pytest.raises(ValueError, match="descent optimiser"):
        generate(Scale(1.0), "eqm", (2,), SampleConfig(sampler="heun"))

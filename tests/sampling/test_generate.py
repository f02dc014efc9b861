"""Sampling from fields and velocities: default steps, step scaling, chunking, the sampler
check, and the new path against a hand-written `Descender` run and the deprecated form."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import energykit as ek
from energykit.descent.defaults import PAPER_MOMENTUM, default_lr
from energykit.flows import Velocity
from energykit.sampling import SampleConfig, generate


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
    s = generate(ek.ImplicitField(Scale(3.0)), (2,), cfg, lr_scale=scale)
    lr = default_lr(10) * scale
    assert default_lr(250) == pytest.approx(0.0017)
    torch.testing.assert_close(s.x, _noise(cfg, (2,)) * (1 - lr * 3.0) ** 10)
    assert s.nfe_total == 70 and s.steps is not None and s.steps.tolist() == [10] * 7


def test_explicit_lr_and_fm_time_scaling():
    cfg = SampleConfig(sampler="gd", steps=5, n=4, lr=0.1)
    s = generate(ek.ImplicitField(Scale(1.0)), (3,), cfg)
    torch.testing.assert_close(s.x, _noise(cfg, (3,)) * 0.9**5)
    fm = SampleConfig(sampler="euler", steps=4, n=4)
    out = generate(Velocity(Scale(1.0)), (3,), fm, lr_scale=2.5)  # integrates to t = 2.5
    torch.testing.assert_close(out.x, _noise(fm, (3,)) + 2.5)
    assert out.steps is None and out.nfe_mean == 4


def test_sampler_must_match_the_model():
    with pytest.raises(ValueError, match="flow-matching models sample with 'euler' or 'heun'"):
        generate(Velocity(Scale(1.0)), (2,), SampleConfig(sampler="nag"))
    with pytest.raises(ValueError, match="EqM models sample by descent"):
        generate(ek.ImplicitField(Scale(1.0)), (2,), SampleConfig(sampler="heun"))
    with pytest.raises(ValueError, match="optimizer: unknown name 'banana'"):
        generate(ek.ImplicitField(Scale(1.0)), (2,), SampleConfig(sampler="banana"))
    with pytest.raises(TypeError, match=r"expected an EnergyField .* or a energykit\.flows"):
        generate(Scale(1.0), (2,), SampleConfig())  # type: ignore[arg-type]


class Rotate(nn.Module):
    """A non-conservative net, so momentum and step matter: net(x) = A x + b."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x)


@pytest.mark.parametrize(("sampler", "g_min"), [("nag", None), ("gd", None), ("nag", 0.5)])
def test_generate_is_bitwise_a_hand_written_descender_run(sampler, g_min):
    torch.manual_seed(0)
    field = ek.ImplicitField(Rotate())
    cfg = SampleConfig(sampler=sampler, steps=7, n=5, batch=2, seed=11, g_min=g_min)
    got = generate(field, (3,), cfg)
    # Oracle: the same noise, chunked by cfg.batch, each chunk one Descender run with the
    # paper's defaults written out (step 0.425 / K, NAG look-ahead 0.3).
    x0 = _noise(cfg, (3,))
    extra = {"momentum": PAPER_MOMENTUM} if sampler == "nag" else {}
    runs = [
        ek.Descender(field, sampler, lr=0.425 / 7, steps=7, g_min=g_min, **extra).run(chunk)
        for chunk in x0.split(2)
    ]
    assert torch.equal(got.x, torch.cat([r.x for r in runs]))
    assert got.steps is not None and torch.equal(got.steps, torch.cat([r.steps for r in runs]))
    assert got.nfe_total == sum(r.nfe_total for r in runs)

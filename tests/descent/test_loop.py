"""One loop, two evaluation strategies: all rows every step (fixed budget) and active rows only
(adaptive compute, freezing) agree exactly whenever no row stops or freezes."""

from __future__ import annotations

import pytest
import torch
from torch.optim import Optimizer

import energykit as ek
from energykit.fields import Quadratic
from tests.helpers import Counting


def _field() -> ek.EnergyField:
    return Quadratic(torch.diag(torch.tensor([1.0, 3.0], dtype=torch.float64)))


def _x0() -> torch.Tensor:
    return torch.randn(5, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))


FIELDS = ("x", "steps", "nfe", "grad_norm", "converged", "failed")


@pytest.mark.parametrize("opt", ["gd", "nag", "adam", "lbfgs"])
@pytest.mark.parametrize("other", [{"nonfinite": "freeze"}, {"g_min": 1e-30}])
def test_active_rows_equal_all_rows_when_nothing_stops(opt, other):
    fixed = ek.Descender(_field(), opt, lr=0.05, steps=6).run(_x0())
    active = ek.Descender(_field(), opt, lr=0.05, steps=6, **other).run(_x0())
    for name in FIELDS:
        assert torch.equal(getattr(fixed, name), getattr(active, name)), name


@pytest.mark.parametrize("g_min", [None, 0.5])
def test_step_always_returns_a_record_with_current_accounting(g_min):
    d = ek.Descender(Counting(_field()), "nag", lr=0.1, steps=6, g_min=g_min)
    state = d.start(_x0())
    while not state.done:
        info = d.step(state)
        assert isinstance(info, ek.descent.DescentStep) and info.step == state.step - 1
        # The counts are up to date whenever control is back with the caller.
        assert int(state.nfe.sum()) == sum(d.field.calls)
        assert torch.equal(info.grad_norm, state.grad_norm)
        assert info.grad.shape == state.x.shape and info.active.dtype == torch.bool
    assert torch.equal(state.result().x, d.run(_x0()).x)


def test_an_optimiser_that_skips_the_closure_is_refused():
    class NoClosure(Optimizer):
        def __init__(self, params, lr=0.1):
            super().__init__(params, {"lr": lr})

        def step(self, closure=None):
            return None

    for extra in [{}, {"g_min": 0.1}]:
        with pytest.raises(RuntimeError, match=r"NoClosure\.step did not call its closure"):
            ek.Descender(_field(), NoClosure, steps=3, **extra).run(_x0())

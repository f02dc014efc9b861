"""The paper's sampler defaults: defined once, used by every default descender."""

from __future__ import annotations

import inspect

import pytest
import torch

import energykit as ek
from energykit.descent import (
    DEFAULT_STEP_BUDGET,
    PAPER_LR,
    PAPER_MOMENTUM,
    PAPER_STEPS,
    default_lr,
    paper_descender,
)
from energykit.fields import Quadratic


def _field() -> ek.EnergyField:
    return Quadratic(torch.diag(torch.tensor([1.0, 3.0], dtype=torch.float64)))


def test_the_paper_settings():
    # Section 5: NAG-GD, eta = 0.0017, mu = 0.3, K = 250; the budget keeps eta K fixed.
    assert (PAPER_LR, PAPER_MOMENTUM, PAPER_STEPS) == (0.0017, 0.3, 250)
    assert default_lr(PAPER_STEPS) == pytest.approx(PAPER_LR, rel=1e-12)
    assert default_lr(50) == pytest.approx(DEFAULT_STEP_BUDGET / 50, rel=0)


def test_naggd_defaults_are_the_paper_settings():
    params = inspect.signature(ek.NAGGD).parameters
    assert params["lr"].default == PAPER_LR
    assert params["momentum"].default == PAPER_MOMENTUM


@pytest.mark.parametrize("optimizer", ["nag", "naggd"])
def test_paper_descender_uses_the_budget_and_look_ahead(optimizer):
    d = paper_descender(_field(), optimizer, steps=50)
    assert d.step_sizes == [DEFAULT_STEP_BUDGET / 50] * 50
    assert d.steps == 50 and d.optimizer_kwargs == {"momentum": PAPER_MOMENTUM}
    assert paper_descender(_field(), optimizer, steps=50, momentum=0.0).optimizer_kwargs == {
        "momentum": 0.0
    }
    assert paper_descender(_field(), "gd", steps=50).optimizer_kwargs == {}
    assert paper_descender(_field(), steps=10, lr=0.5).step_sizes == [0.5] * 10


def test_tasks_descend_with_the_paper_descender():
    x0 = torch.randn(3, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    got = ek.tasks.denoise(_field(), x0, steps=20)
    want = paper_descender(_field(), "nag", steps=20).run(x0)
    assert torch.equal(got.x, want.x)


def test_bad_budget_is_named():
    with pytest.raises(ValueError, match="steps"):
        default_lr(0)

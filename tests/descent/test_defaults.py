"""The paper's sampler defaults, defined once, and `DescentSettings`, the one dataclass of a
descent's settings that the tasks and `SampleConfig` build their descenders from."""

from __future__ import annotations

import inspect
import re

import pytest
import torch

import energykit as ek
from energykit.descent import (
    DEFAULT_STEP_BUDGET,
    PAPER_LR,
    PAPER_MOMENTUM,
    PAPER_STEPS,
    DescentSettings,
    default_lr,
)
from energykit.fields import Quadratic
from energykit.sampling import SampleConfig


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
def test_settings_use_the_budget_and_look_ahead(optimizer):
    d = DescentSettings(optimizer, steps=50).descender(_field())
    assert d.step_sizes == [DEFAULT_STEP_BUDGET / 50] * 50
    assert d.steps == 50 and d.optimizer_kwargs == {"momentum": PAPER_MOMENTUM}
    zero = DescentSettings(optimizer, steps=50, momentum=0.0).descender(_field())
    assert zero.optimizer_kwargs == {"momentum": 0.0}
    assert DescentSettings("gd", steps=50).descender(_field()).optimizer_kwargs == {}
    assert DescentSettings(steps=10, lr=0.5).descender(_field()).step_sizes == [0.5] * 10
    assert DescentSettings().descender(_field()).step_sizes == [PAPER_LR] * PAPER_STEPS


def test_settings_descend_as_nag_gd_by_hand():
    # Algorithm 2 written out: p = x + mu (x - x_prev); x_prev = x; x = x - eta grad(p).
    field, eta, mu = _field(), 0.05, 0.3
    x0 = torch.randn(4, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    got = DescentSettings(steps=7, lr=eta).descender(field).run(x0).x
    x, prev = x0.clone(), x0.clone()
    for _ in range(7):
        p = x + mu * (x - prev)
        prev, x = x, x - eta * field.gradient(p)
    torch.testing.assert_close(got, x, rtol=0, atol=1e-14)


def test_tasks_descend_with_the_settings_they_are_given():
    x0 = torch.randn(3, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    got = ek.tasks.denoise(_field(), x0, steps=20)
    want = DescentSettings(steps=20).descender(_field()).run(x0)
    assert torch.equal(got.x, want.x)
    got = ek.tasks.denoise(_field(), x0, optimizer="gd", steps=5, lr=0.1, momentum=None)
    want = DescentSettings("gd", steps=5, lr=0.1).descender(_field()).run(x0)
    assert torch.equal(got.x, want.x)


@pytest.mark.parametrize(
    ("changes", "error", "match"),
    [
        ({"steps": 0}, ValueError, "steps: expected an int >= 1, got 0"),
        ({"steps": 2.5}, TypeError, "steps: expected an int, got float"),
        ({"lr": -0.1}, ValueError, "lr: expected a number > 0.0, got -0.1"),
        ({"g_min": 0.0}, ValueError, "g_min: expected a number > 0.0, got 0.0"),
        ({"momentum": -1.0}, ValueError, "momentum: expected a number >= 0.0, got -1.0"),
        ({"momentum": float("nan")}, ValueError, "momentum: expected a finite number"),
    ],
)
def test_bad_settings_are_named_on_construction(changes, error, match):
    with pytest.raises(error, match=match):
        DescentSettings(**changes)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"steps": 0}, "sample.steps: expected an int >= 1"),
        ({"lr": 0.0}, "sample.lr: expected a number > 0.0"),
        ({"g_min": -1.0}, "sample.g_min: expected a number > 0.0"),
        ({"momentum": -0.5}, "sample.momentum: expected a number >= 0.0"),
    ],
)
def test_sample_config_checks_the_same_ranges_under_its_names(changes, match):
    with pytest.raises(ValueError, match=match):
        SampleConfig(**changes).check()


def test_tasks_name_a_bad_setting():
    x0 = torch.zeros(2, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="steps: expected an int >= 1"):
        ek.tasks.inpaint(_field(), x0, torch.ones_like(x0), steps=0)
    with pytest.raises(ValueError, match=re.escape("g_min: expected a number > 0.0")):
        ek.tasks.ood_scores(_field(), x0, method="descent_steps", g_min=-1.0)


def test_bad_budget_is_named():
    with pytest.raises(ValueError, match="steps"):
        default_lr(0)

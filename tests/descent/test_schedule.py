"""Per-step schedules: a `Descender` with per-step step sizes and look-aheads, or a torch
scheduler, equals a hand-written loop of the maths, exactly; bad schedules get one line."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import energykit as ek
from energykit.descent.budget import ADAM_STEP_BUDGET, DEFAULT_STEP_BUDGET, budget_lr
from energykit.fields import Quadratic
from tests.helpers import random_spd

FIELD = Quadratic(random_spd(3, 1))
X0 = torch.randn(5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(3))


def _gd(lrs: list[float]) -> torch.Tensor:
    """x_{k+1} = x_k - lr_k grad E(x_k), as torch.optim.SGD rounds it (one fused multiply-add)."""
    x = X0.clone()
    for lr in lrs:
        x = x.add(FIELD.gradient(x), alpha=-lr)
    return x


def _nag(lrs: list[float], mus: list[float]) -> torch.Tensor:
    """Algorithm 2 with a per-step step and look-ahead, written from the maths."""
    x_prev, x = X0.clone(), X0.clone()
    for lr, mu in zip(lrs, mus, strict=True):
        x_prev, x = x, x - lr * FIELD.gradient(x + mu * (x - x_prev))
    return x


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(0.0, 0.5), min_size=1, max_size=8))
def test_per_step_gd_is_the_hand_loop(lrs):
    result = ek.Descender(FIELD, "gd", lr=lrs).run(X0)
    assert torch.equal(result.x, _gd(lrs))
    assert result.nfe.tolist() == [len(lrs)] * len(X0)


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_per_step_nag_is_algorithm_2_with_a_schedule(data):
    k = data.draw(st.integers(1, 8))
    lrs = data.draw(st.lists(st.floats(0.0, 0.4), min_size=k, max_size=k))
    mus = data.draw(st.lists(st.floats(0.0, 0.9), min_size=k, max_size=k))
    result = ek.Descender(FIELD, "nag", lr=lrs, momentum=mus).run(X0)
    torch.testing.assert_close(result.x, _nag(lrs, mus), rtol=0, atol=1e-14)


def test_a_constant_schedule_equals_a_constant_step():
    steps = 7
    a = ek.Descender(FIELD, "nag", lr=[0.1] * steps, momentum=[0.3] * steps).run(X0)
    b = ek.Descender(FIELD, "nag", lr=0.1, momentum=0.3, steps=steps).run(X0)
    assert torch.equal(a.x, b.x)


def test_a_torch_scheduler_factory_steps_from_the_budget_default():
    steps = 6

    def factory(opt):
        return torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)

    result = ek.Descender(FIELD, "gd", lr=factory, steps=steps).run(X0)
    base = DEFAULT_STEP_BUDGET / steps
    lrs = [base * 0.5 ** (k // 2) for k in range(steps)]
    torch.testing.assert_close(result.x, _gd(lrs), rtol=0, atol=1e-15)


def test_the_step_sizes_used_are_recorded():
    assert ek.Descender(FIELD, "nag", steps=4).step_sizes == [DEFAULT_STEP_BUDGET / 4] * 4
    assert ek.Descender(FIELD, "gd", lr=[0.1, 0.2]).step_sizes == [0.1, 0.2]
    assert ek.Descender(FIELD, "gd", lr=lambda o: None, steps=3).step_sizes is None


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("gd", DEFAULT_STEP_BUDGET),
        ("nag", DEFAULT_STEP_BUDGET),
        ("ab3", DEFAULT_STEP_BUDGET),
        ("adam", ADAM_STEP_BUDGET),
        ("adamw", ADAM_STEP_BUDGET),
    ],
)
@pytest.mark.parametrize("steps", [1, 25, 250])
def test_no_lr_means_the_budget_default_never_a_constant(name, expected, steps):
    d = ek.Descender(FIELD, name, steps=steps)
    assert d.step_sizes == [expected / steps] * steps
    opt = d.start(X0).optimizer
    assert opt.param_groups[0]["lr"] == expected / steps


def test_an_optimiser_without_a_known_default_keeps_its_own():
    assert budget_lr(torch.optim.RMSprop, 10) is None
    opt = ek.Descender(FIELD, "rmsprop", steps=10).start(X0).optimizer
    assert opt.param_groups[0]["lr"] == torch.optim.RMSprop([X0.clone()]).param_groups[0]["lr"]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"lr": [0.1, 0.2], "steps": 3}, ValueError, r"lr: expected 3 per-step values .* got 2"),
        ({"lr": []}, ValueError, "lr: expected at least one per-step value"),
        ({"lr": [0.1, -0.2]}, ValueError, r"lr\[1\]: expected a number >= 0.0"),
        ({"lr": [0.1, "a"]}, TypeError, r"lr\[1\]: expected a real number, got str"),
        ({"lr": [0.1, float("nan")]}, ValueError, r"lr\[1\]: expected a finite number"),
        ({"lr": [0.1] * 3, "momentum": [0.3] * 2}, ValueError, "momentum: expected 3 per-step"),
    ],
)
def test_bad_schedules_get_one_line(kwargs, error, match):
    with pytest.raises(error, match=match):
        ek.Descender(FIELD, "nag", **kwargs)


def test_a_factory_that_returns_no_scheduler_is_refused():
    d = ek.Descender(FIELD, "gd", lr=lambda opt: "nope", steps=2)
    with pytest.raises(TypeError, match="lr: a scheduler factory must return"):
        d.run(X0)

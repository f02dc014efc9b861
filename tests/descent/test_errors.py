"""Bad input gets an error that names the argument, what was expected and what came."""

from __future__ import annotations

import pytest
import torch

import energykit as ek
from energykit.fields import Quadratic
from tests.helpers import Fixed, tiny_mlp

FIELD = Quadratic(torch.eye(2, dtype=torch.float64))
X0 = torch.zeros(3, 2, dtype=torch.float64)


def test_x0_must_be_floating_and_finite():
    with pytest.raises(
        TypeError, match=r"x0: expected a floating-point tensor, got dtype torch\.int64"
    ):
        ek.Descender(FIELD).run(torch.zeros(3, 2, dtype=torch.long))
    with pytest.raises(TypeError, match=r"x0: expected a torch\.Tensor, got list"):
        ek.Descender(FIELD).run([[0.0, 1.0]])  # type: ignore[arg-type]
    bad = X0.clone()
    bad[1, 0] = float("nan")
    with pytest.raises(
        ValueError, match=r"x0: expected finite values, got NaN/inf in samples \[1\]"
    ):
        ek.Descender(FIELD).run(bad)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lr": -0.1}, "lr: expected a number >= 0.0, got -0.1"),
        ({"lr": float("inf")}, "lr: expected a finite number, got inf"),
        ({"lr": float("nan")}, "lr: expected a finite number"),
        ({"steps": 0}, "steps: expected an int >= 1, got 0"),
        ({"g_min": -1.0}, "g_min: expected a number > 0.0, got -1.0"),
        ({"g_min": 0.0}, "g_min: expected a number > 0.0, got 0.0"),
    ],
)
def test_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ek.Descender(FIELD, "gd", **kwargs)


def test_steps_must_be_an_int():
    with pytest.raises(TypeError, match="steps: expected an int, got float"):
        ek.Descender(FIELD, steps=2.5)  # type: ignore[arg-type]


def test_unknown_optimiser_lists_the_choices():
    with pytest.raises(
        ValueError, match=r"unknown name 'adamm'; expected one of \[.*'adam'.*'nag'"
    ):
        ek.Descender(FIELD, "adamm")


def test_wrong_gradient_shape_is_named():
    with pytest.raises(ValueError, match=r"Fixed.gradient: expected shape \(3, 2\).*got \(3, 1\)"):
        ek.Descender(Fixed(torch.zeros(3, 1, dtype=torch.float64))).run(X0)


def test_conditioning_of_the_wrong_batch_size():
    field = ek.ImplicitField(tiny_mlp(2, 0, num_classes=3))
    with pytest.raises(
        ValueError, match=r"conditioning 'y': expected batch size 3.*got shape \(2,\)"
    ):
        ek.Descender(field).run(X0, y=torch.zeros(2, dtype=torch.long))


def test_descent_that_diverges_raises_with_step_and_samples():
    # lr * curvature = 1e200 overflows within a few steps; only sample 1 starts off the minimum.
    field = Quadratic(torch.diag(torch.tensor([1e100, 1.0], dtype=torch.float64)))
    x0 = torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.0, 0.0]], dtype=torch.float64)
    with pytest.raises(FloatingPointError, match=r"at step \d+.*\[1\]"):
        ek.Descender(field, "gd", lr=1e100, steps=50).run(x0)


def test_field_that_returns_nan_is_caught():
    value = torch.zeros(3, 2, dtype=torch.float64)
    value[2, 1] = float("nan")
    with pytest.raises(FloatingPointError, match=r"non-finite gradient at step 0 in samples \[2\]"):
        ek.Descender(Fixed(value)).run(X0)


def test_field_must_be_a_field():
    with pytest.raises(TypeError, match="Descender field: expected an EnergyField"):
        ek.Descender(lambda x: x)  # type: ignore[arg-type]


def test_nag_without_closure():
    x = torch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match=r"NAGGD\.step: expected a closure"):
        ek.NAGGD([x]).step()


@pytest.mark.parametrize("opt", ["gd", "nag", "adam"])
def test_fixed_budget_run_equals_manual_stepping(opt):
    # run() without a callback keeps the fixed budget's counts on the host until the end; it
    # must agree exactly with step() driven by hand, including the per-sample accounting.
    field = Quadratic(torch.diag(torch.tensor([1.0, 3.0], dtype=torch.float64)))
    x0 = torch.randn(5, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    d = ek.Descender(field, opt, lr=0.05, steps=7)
    fast = d.run(x0)
    state = d.start(x0)
    while not state.done:
        d.step(state)
    slow = state.result()
    for name in ("x", "steps", "nfe", "grad_norm", "converged"):
        assert torch.equal(getattr(fast, name), getattr(slow, name)), name

"""`Multistep`: Adams-Bashforth of orders 1-4 (warm-started), per-step weights and look-aheads,
against hand-written loops of the maths; the order of accuracy on a flow with a known answer."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import energykit as ek
from energykit.descent.multistep import ADAMS_BASHFORTH, adams_bashforth
from energykit.fields import Quadratic
from tests.helpers import random_spd

FIELD = Quadratic(random_spd(3, 2))
X0 = torch.randn(4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(5))


def _reference(lrs, mus, rows):
    """The multistep update written from the maths (newest gradient first)."""
    x_prev, x, grads = X0.clone(), X0.clone(), []
    for k, (lr, mu) in enumerate(zip(lrs, mus, strict=True)):
        grads.insert(0, FIELD.gradient(x + mu * (x - x_prev)))
        row = rows[min(k, len(rows) - 1)]
        d = sum(w * g for w, g in zip(row[: k + 1], grads, strict=False))
        x_prev, x = x, x - lr * d
    return x


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_adams_bashforth_is_the_hand_loop(order):
    steps, lr = 9, 0.07
    result = ek.Descender(
        FIELD,
        f"ab{order}" if order > 1 else "multistep",
        lr=lr,
        steps=steps,
        **({"order": 1} if order == 1 else {}),
    ).run(X0)
    expected = _reference([lr] * steps, [0.0] * steps, adams_bashforth(steps, order))
    torch.testing.assert_close(result.x, expected, rtol=0, atol=1e-14)
    assert result.nfe.tolist() == [steps] * len(X0)  # one evaluation per step, every order


def test_adams_bashforth_weights_sum_to_one_and_warm_start():
    for order, row in ADAMS_BASHFORTH.items():
        assert math.isclose(sum(row), 1.0, abs_tol=1e-15), order
    rows = adams_bashforth(5, 3)
    assert [len(r) for r in rows] == [1, 2, 3, 3, 3]


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_per_step_weights_and_look_aheads_are_the_hand_loop(data):
    k = data.draw(st.integers(1, 7))
    h = data.draw(st.integers(1, 3))
    real = st.floats(-1.5, 1.5)
    rows = [data.draw(st.lists(real, min_size=h, max_size=h)) for _ in range(k)]
    lrs = data.draw(st.lists(st.floats(0.0, 0.2), min_size=k, max_size=k))
    mus = data.draw(st.lists(st.floats(0.0, 0.8), min_size=k, max_size=k))
    result = ek.Descender(FIELD, "multistep", lr=lrs, momentum=mus, weights=rows).run(X0)
    torch.testing.assert_close(result.x, _reference(lrs, mus, rows), rtol=0, atol=1e-12)


def test_one_weight_and_a_look_ahead_is_nag_gd():
    steps = 8
    a = ek.Descender(FIELD, "multistep", lr=0.1, momentum=0.3, weights=[[1.0]], steps=steps)
    b = ek.Descender(FIELD, "nag", lr=0.1, momentum=0.3, steps=steps)
    torch.testing.assert_close(a.run(X0).x, b.run(X0).x, rtol=0, atol=1e-15)


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_order_of_accuracy_on_the_linear_flow(order):
    # dx/ds = -x from x(0) = 1 has x(1) = e^-1. The warm start's first (Euler) step leaves a
    # local error O(h^2), so the global order is min(order, 2): measured from two step counts.
    field = Quadratic(torch.eye(1, dtype=torch.float64))
    x0 = torch.ones(1, 1, dtype=torch.float64)

    def err(n):
        kw = {"order": 1} if order == 1 else {}
        name = "multistep" if order == 1 else f"ab{order}"
        x = ek.Descender(field, name, lr=1.0 / n, steps=n, **kw).run(x0).x
        return abs(float(x) - math.exp(-1.0))

    rate = math.log2(err(64) / err(128))
    assert abs(rate - min(order, 2)) < 0.1, rate


def test_state_survives_a_fork():
    x = X0.clone()
    opt = ek.Multistep([x], lr=0.05, order=3)

    def step(o, y):
        def closure():
            y.grad = FIELD.gradient(y.detach())
            return 0.0

        o.step(closure)

    for _ in range(2):
        step(opt, x)
    saved = opt.state_dict()
    y = x.clone()
    fork = ek.Multistep([y], lr=0.05, order=3)
    fork.load_state_dict(saved)
    for _ in range(3):
        step(opt, x)
        step(fork, y)
    assert torch.equal(x, y)
    expected = _reference([0.05] * 5, [0.0] * 5, adams_bashforth(5, 3))
    torch.testing.assert_close(x, expected, rtol=0, atol=1e-14)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"order": 5}, "order: expected 1, 2, 3 or 4"),
        ({"weights": []}, "Multistep weights: expected a non-empty sequence"),
        ({"weights": [[1.0], []]}, r"Multistep weights\[1\]: expected a non-empty row"),
        ({"weights": [[float("inf")]]}, r"weights\[0\]\[0\]: expected a finite number"),
        ({"lr": -1.0}, "Multistep lr: expected a number >= 0.0"),
    ],
)
def test_bad_settings_get_one_line(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ek.Multistep([X0.clone()], **kwargs)

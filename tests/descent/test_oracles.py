"""The Descender against hand-written loops from the maths."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import energykit as ek
from energykit.fields import GaussianMixture, Quadratic
from tests.helpers import DTYPES, random_spd, seeds, tiny_mlp


@given(seeds, st.integers(1, 40), st.floats(0.01, 0.3))
def test_sgd_on_a_quadratic_is_the_matrix_power(seed, k, lr):
    d = 4
    A = random_spd(d, seed)
    x0 = torch.randn(3, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    result = ek.Descender(Quadratic(A), "gd", lr=lr, steps=k).run(x0)
    M = torch.linalg.matrix_power(torch.eye(d, dtype=torch.float64) - lr * A, k)
    torch.testing.assert_close(result.x, x0 @ M.T, rtol=0, atol=1e-12)
    assert result.steps.tolist() == [k] * 3 and result.nfe.tolist() == [k] * 3


def _algorithm2(field, x0, lr, mu, n):
    """The paper's Algorithm 2, written from the maths."""
    x_prev, x = x0.clone(), x0.clone()
    for _ in range(n):
        p = x + mu * (x - x_prev)
        x_prev, x = x, x - lr * field.gradient(p)
    return x


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mu", [0.0, 0.3, 0.9])
def test_nag_is_algorithm_2_exactly(dtype, mu):
    torch.manual_seed(0)
    field = ek.ImplicitField(tiny_mlp(3, 5, dtype))
    x0 = torch.randn(6, 3, dtype=dtype)
    with torch.no_grad():
        expected = _algorithm2(field, x0, 0.05, mu, 17)
    got = ek.Descender(field, "nag", lr=0.05, momentum=mu, steps=17).run(x0)
    assert torch.equal(got.x, expected)


def test_nag_returns_x_n_not_the_look_ahead():
    # On a quadratic the two differ; Algorithm 2's x_N is what the hand loop gives.
    A = random_spd(2, 3)
    x0 = torch.randn(2, 2, dtype=torch.float64)
    got = ek.Descender(Quadratic(A), "nag", lr=0.1, momentum=0.5, steps=5, record=True).run(x0)
    torch.testing.assert_close(got.x, _algorithm2(Quadratic(A), x0, 0.1, 0.5, 5), rtol=0, atol=0)
    assert got.trajectory is not None
    torch.testing.assert_close(got.trajectory[-1], got.x, rtol=0, atol=0)


def test_adam_equals_a_hand_loop_with_the_same_optimiser():
    field = GaussianMixture(torch.randn(3, 2, generator=torch.Generator().manual_seed(0)), 0.5)
    x0 = torch.randn(5, 2, generator=torch.Generator().manual_seed(1))
    x = x0.clone()
    opt = torch.optim.Adam([x], lr=0.05, betas=(0.8, 0.99))
    for _ in range(30):
        x.grad = field.gradient(x)
        opt.step()
    got = ek.Descender(field, torch.optim.Adam, lr=0.05, steps=30, betas=(0.8, 0.99)).run(x0)
    assert torch.equal(got.x, x)


def test_optimiser_by_class_factory_and_name_agree():
    field = Quadratic(random_spd(3, 0))
    x0 = torch.randn(4, 3, dtype=torch.float64)
    runs = [
        ek.Descender(field, torch.optim.SGD, lr=0.1, steps=5).run(x0).x,
        ek.Descender(field, lambda p, lr: torch.optim.SGD(p, lr=lr), lr=0.1, steps=5).run(x0).x,
        ek.Descender(field, "gd", lr=0.1, steps=5).run(x0).x,
        ek.Descender(field, "SGD", lr=0.1, steps=5).run(x0).x,
    ]
    for r in runs[1:]:
        assert torch.equal(r, runs[0])


@pytest.mark.parametrize("name", ["adam", "AdamW", "rmsprop", "nag", "adagrad", "lamb"])
def test_named_optimisers_descend(name):
    field = Quadratic(random_spd(3, 1))
    x0 = torch.randn(8, 3, dtype=torch.float64)
    result = ek.Descender(field, name, lr=0.05, steps=200).run(x0)
    assert float(field.energy(result.x).mean()) < float(field.energy(x0).mean())


def test_manual_stepping_equals_run():
    field = ek.ImplicitField(tiny_mlp(2, 1))
    x0 = torch.randn(5, 2, dtype=torch.float64)
    descender = ek.Descender(field, "nag", lr=0.1, steps=12, g_min=0.05)
    state = descender.start(x0)
    seen = []
    while not state.done:
        seen.append(descender.step(state).step)
    manual = state.result()
    ran = descender.run(x0)
    assert seen == list(range(len(seen)))
    assert torch.equal(manual.x, ran.x) and torch.equal(manual.steps, ran.steps)
    with pytest.raises(RuntimeError, match="done"):
        descender.step(state)


@pytest.mark.parametrize("shape", [(2,), (3, 4), (2, 3, 3)])
def test_any_sample_shape(shape):
    d = int(torch.tensor(shape).prod())
    field = Quadratic(random_spd(d, 2))
    x0 = torch.randn(4, *shape, dtype=torch.float64)
    result = ek.Descender(field, "gd", lr=0.05, steps=4, record=True).run(x0)
    assert result.x.shape == x0.shape
    assert result.trajectory is not None and result.trajectory.shape == (5, 4, *shape)
    assert torch.equal(result.trajectory[0], x0)


def test_callback_sees_every_step_and_x0_is_not_modified():
    field = Quadratic(random_spd(2, 4))
    x0 = torch.randn(3, 2, dtype=torch.float64)
    keep = x0.clone()
    steps = []
    ek.Descender(field, "gd", lr=0.1, steps=7, callback=lambda s: steps.append(s.step)).run(x0)
    assert steps == list(range(7))
    assert torch.equal(x0, keep)


def test_nag_with_zero_momentum_is_gradient_descent():
    field = ek.ImplicitField(tiny_mlp(3, 9))
    x0 = torch.randn(4, 3, dtype=torch.float64)
    nag = ek.Descender(field, "nag", lr=0.05, momentum=0.0, steps=20).run(x0)
    gd = ek.Descender(field, "gd", lr=0.05, steps=20).run(x0)
    torch.testing.assert_close(nag.x, gd.x, rtol=1e-12, atol=1e-12)

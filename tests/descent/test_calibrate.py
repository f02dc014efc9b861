"""Calibration: the differentiable unroll is the solver's descent, a fit is reproducible and
lowers its loss, and the losses obey their laws."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import energykit as ek
from energykit.descent.calibrate import calibrate, calibration_loss, unroll
from energykit.descent.solver import Solver, multistep_solver
from energykit.fields import Quadratic
from tests.helpers import random_spd, tiny_mlp

X0 = torch.randn(32, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))


def _tensors(s: Solver) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    h = s.history
    w = torch.zeros(s.steps, h, dtype=torch.float64)
    for i, row in enumerate(s.weights):
        w[i, : min(h, len(row))] = torch.tensor(row[:h], dtype=torch.float64)
    as64 = {"dtype": torch.float64}
    return torch.tensor(s.lr, **as64), torch.tensor(s.momentum, **as64), w


@pytest.mark.parametrize("field", [Quadratic(random_spd(3, 1)), ek.ImplicitField(tiny_mlp(3, 0))])
def test_unroll_is_the_solvers_descent(field):
    s = Solver(
        (0.1, 0.05, 0.2, 0.1), (0.0, 0.3, 0.0, 0.2), ((1.0,), (1.5, -0.5), (1.2, -0.1), (0.9, 0.2))
    )
    with torch.no_grad():
        got = unroll(field, X0, *_tensors(s))
    torch.testing.assert_close(got, s.descender(field).run(X0).x, rtol=0, atol=1e-13)


def _problem():
    field = Quadratic(random_spd(3, 3))
    target = ek.Descender(field, "nag", lr=0.01, momentum=0.3, steps=200).run(X0).x
    return field, target


def test_a_fit_lowers_its_loss_and_is_reproducible():
    field, target = _problem()
    init = multistep_solver([0.05] * 3, 0.0, order=2)
    a, log = calibrate(field, X0, target, init, iterations=60, step=0.05, log_every=20)
    b, _ = calibrate(field, X0, target, init, iterations=60, step=0.05, log_every=20)
    assert a.lr == b.lr and a.weights == b.weights and a.momentum == b.momentum
    assert a.fit["loss_after"] < 0.5 * a.fit["loss_before"]
    assert log.iteration == [20, 40, 60] and len(log.loss) == 3
    assert all(v >= 0 for v in a.lr + a.momentum)
    # The fitted solver really lands closer (its own descent, not the unroll).
    before = (init.descender(field).run(X0).x - target).pow(2).mean()
    after = (a.descender(field).run(X0).x - target).pow(2).mean()
    assert after < 0.5 * before


def test_the_fields_own_weights_are_left_as_they_were():
    net = tiny_mlp(3, 5)
    field = ek.ImplicitField(net)
    before = [p.detach().clone() for p in net.parameters()]
    target = X0 * 0.5
    calibrate(field, X0, target, multistep_solver([0.1] * 2), iterations=5)
    assert all(torch.equal(p, q) for p, q in zip(net.parameters(), before, strict=True))
    assert all(p.requires_grad for p in net.parameters()) and all(
        p.grad is None for p in net.parameters()
    )


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 12), st.integers(1, 5), st.integers(0, 1000))
def test_energy_distance_is_symmetric_zero_on_itself_and_non_negative(n, d, seed):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, d, generator=g, dtype=torch.float64)
    b = torch.randn(n, d, generator=g, dtype=torch.float64) + 0.5
    ab, ba = calibration_loss(a, b, "energy"), calibration_loss(b, a, "energy")
    torch.testing.assert_close(ab, ba, rtol=1e-12, atol=1e-12)
    assert float(calibration_loss(a, a, "energy")) == pytest.approx(0.0, abs=1e-9)
    assert float(ab) >= -1e-9
    mse = float(calibration_loss(a, b, "mse"))
    assert mse == pytest.approx(float((a - b).pow(2).mean()), rel=1e-12)
    both = float(calibration_loss(a, b, "mse+energy"))
    assert both == pytest.approx(mse + float(ab), rel=1e-12)


def test_bad_settings_are_named():
    field, target = _problem()
    init = multistep_solver([0.05] * 2)
    with pytest.raises(ValueError, match="loss: expected one of"):
        calibrate(field, X0, target, init, loss="lpips")
    with pytest.raises(ValueError, match="differ in shape"):
        calibrate(field, X0, target[:3], init)
    with pytest.raises(ValueError, match="iterations: expected an int >= 1"):
        calibrate(field, X0, target, init, iterations=0)


def test_a_guided_latent_dit_calibrates_and_its_solver_runs():
    # Class-conditional DiT on 4x8x8 latents with classifier-free guidance in one batched pass:
    # the unroll differentiates through the guided field, labels travel as conditioning.
    torch.manual_seed(0)
    net = ek.nets.DiT(
        input_size=8,
        patch_size=4,
        in_channels=4,
        hidden_size=16,
        depth=1,
        num_heads=2,
        num_classes=3,
    )
    for p in net.parameters():  # adaLN-Zero starts at zero output: give it a field
        torch.nn.init.normal_(p, std=0.05)
    field = ek.Guided(ek.ImplicitField(net), 2.0, 3)
    x0 = torch.randn(6, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    y = torch.arange(6) % 3
    target = ek.Descender(field, "nag", lr=0.01, momentum=0.3, steps=30).run(x0, y=y).x
    init = multistep_solver([0.03] * 3, 0.0, order=2)
    solver, _ = calibrate(field, x0, target, init, iterations=8, step=0.05, y=y)
    assert solver.fit["loss_after"] < solver.fit["loss_before"]
    result = solver.descender(field).run(x0, y=y)
    assert result.nfe.tolist() == [3] * 6  # one batched guided pass per step
    with torch.no_grad():
        lr, mu, w = _tensors(solver)
        again = unroll(field, x0, lr.float(), mu.float(), w.float(), y=y)
    torch.testing.assert_close(result.x, again, rtol=1e-5, atol=1e-5)

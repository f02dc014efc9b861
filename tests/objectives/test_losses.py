"""EqM and flow-matching losses against their closed forms."""

from __future__ import annotations

import pytest
import torch

import energykit as ek
from energykit.objectives import Constant, EqMLoss, FlowMatchingLoss, interpolate
from tests.helpers import Fixed, tiny_mlp


def _batch(b: int = 6, d: int = 3):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(b, d, generator=g, dtype=torch.float64)
    eps = torch.randn(b, d, generator=g, dtype=torch.float64)
    gamma = torch.tensor([0.0, 0.3, 0.8, 0.9, 0.95, 1.0], dtype=torch.float64)[:b]
    return x, eps, gamma


def test_interpolant_endpoints():
    x, eps, _ = _batch()
    assert torch.equal(interpolate(x, eps, torch.zeros(6, dtype=torch.float64)), eps)
    assert torch.equal(interpolate(x, eps, torch.ones(6, dtype=torch.float64)), x)


def test_eqm_target_and_zero_loss_for_the_target_field():
    x, eps, gamma = _batch()
    loss = EqMLoss()
    c = torch.tensor([4.0, 4.0, 4.0, 2.0, 1.0, 0.0], dtype=torch.float64)
    target = (eps - x) * c[:, None]
    torch.testing.assert_close(loss.target(x, eps, gamma), target, rtol=1e-15, atol=1e-15)
    out = loss(Fixed(loss.target(x, eps, gamma)), x, gamma=gamma, noise=eps)
    assert float(out.loss) == 0.0 and out.per_sample.shape == (6,)
    assert torch.equal(out.t, gamma)


def test_eqm_loss_is_the_mean_squared_error_to_the_target():
    x, eps, gamma = _batch()
    field = ek.ImplicitField(tiny_mlp(3, 0))
    out = EqMLoss()(field, x, gamma=gamma, noise=eps)
    pred = field.gradient(gamma[:, None] * x + (1 - gamma[:, None]) * eps)
    expected = (pred - EqMLoss().target(x, eps, gamma)).square().mean()
    torch.testing.assert_close(out.loss, expected)


def test_the_field_gets_no_level_input():
    seen = {}

    class Spy(ek.EnergyField):
        def gradient(self, x, **cond):
            seen.update(cond)
            return torch.zeros_like(x)

    x, eps, gamma = _batch()
    EqMLoss()(Spy(), x, gamma=gamma, noise=eps)
    assert seen == {}


@pytest.mark.parametrize("head", [ek.DotEnergy, ek.L2Energy])
def test_explicit_heads_get_finite_nonzero_parameter_gradients(head):
    x, eps, gamma = _batch()
    field = head(tiny_mlp(3, 1))
    EqMLoss()(field, x, gamma=gamma, noise=eps).loss.backward()
    grads = [p.grad for p in field.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads if g is not None) > 0


def test_constant_schedule_is_noise_unconditional_flow_matching_up_to_sign():
    x, eps, gamma = _batch()
    net = tiny_mlp(3, 2)
    eqm = EqMLoss(Constant())(ek.ImplicitField(net), x, gamma=gamma, noise=eps)
    fm = FlowMatchingLoss(time_conditional=False)(lambda z: -net(z), x, t=gamma, noise=eps)
    torch.testing.assert_close(eqm.loss, fm.loss)


def test_flow_matching_zero_loss_and_time_input():
    x, eps, t = _batch()
    calls = []

    def velocity(z, tt):
        calls.append(tt)
        return x - eps

    out = FlowMatchingLoss()(velocity, x, t=t, noise=eps)
    assert float(out.loss) == 0.0 and torch.equal(calls[0], t)
    with pytest.raises(ValueError, match=r"net output: expected shape \(6, 3\)"):
        FlowMatchingLoss()(lambda z, tt: z[:, :1], x)


def test_injected_shapes_are_checked():
    x, eps, gamma = _batch()
    with pytest.raises(ValueError, match=r"gamma: expected shape \(6,\), got \(5,\)"):
        EqMLoss()(Fixed(x), x, gamma=gamma[:5], noise=eps)
    with pytest.raises(ValueError, match=r"noise: expected shape \(6, 3\)"):
        EqMLoss()(Fixed(x), x, gamma=gamma, noise=eps[:, :2])
    with pytest.raises(TypeError, match="x: expected a floating-point tensor"):
        EqMLoss()(Fixed(x), x.long())


def test_draws_are_seeded():
    x, _, _ = _batch()
    field = ek.ImplicitField(tiny_mlp(3, 0))
    a = EqMLoss()(field, x, generator=torch.Generator().manual_seed(3)).loss
    b = EqMLoss()(field, x, generator=torch.Generator().manual_seed(3)).loss
    assert torch.equal(a, b)

"""Neural heads: signs, the gradient rule, and shape checks."""

from __future__ import annotations

import pytest
import torch

import energykit as ek
from tests.helpers import tiny_mlp


def _x(b: int = 3, d: int = 4) -> torch.Tensor:
    return torch.randn(b, d, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def test_implicit_field_returns_the_net_output():
    net = tiny_mlp(4, 0)
    x = _x()
    assert torch.equal(ek.ImplicitField(net).gradient(x), net(x))
    with pytest.raises(ek.NoEnergyError, match="ImplicitField"):
        ek.ImplicitField(net).energy(x)


def test_dot_and_l2_energies_follow_their_formulas():
    net = tiny_mlp(4, 1)
    x = _x()
    f = net(x)
    torch.testing.assert_close(ek.DotEnergy(net).energy(x), (x * f).sum(1))
    torch.testing.assert_close(ek.L2Energy(net).energy(x), -0.5 * f.square().sum(1))
    ref = ek.L2Energy(net, convention="reference")
    torch.testing.assert_close(ref.energy(x), 0.5 * f.square().sum(1))
    torch.testing.assert_close(ref.gradient(x), -ek.L2Energy(net).gradient(x))
    with pytest.raises(ValueError, match="convention"):
        ek.L2Energy(net, convention="other")  # type: ignore[arg-type]


@pytest.mark.parametrize("head", [ek.DotEnergy, ek.L2Energy, ek.ImplicitField])
def test_gradient_rule(head):
    field = head(tiny_mlp(4, 2))
    x = _x()
    with torch.no_grad():
        g = field.gradient(x)
    assert g.grad_fn is None and not g.requires_grad
    g = field.gradient(x)
    assert g.requires_grad
    g.square().sum().backward()
    grads = [p.grad for p in field.parameters()]
    assert all(gr is not None and torch.isfinite(gr).all() for gr in grads)
    assert any(float(gr.abs().sum()) > 0 for gr in grads if gr is not None)


def test_explicit_gradient_keeps_upstream_graph():
    field = ek.DotEnergy(tiny_mlp(4, 3))
    z = _x().requires_grad_(True)
    x = 2.0 * z
    g = field.gradient(x)
    (dz,) = torch.autograd.grad(g.sum(), z)
    assert torch.isfinite(dz).all() and float(dz.abs().sum()) > 0


def test_wrong_net_output_shape_is_named():
    class Bad(torch.nn.Module):
        def forward(self, x):
            return x[:, :1]

    with pytest.raises(ValueError, match=r"ImplicitField\(Bad\).*shaped like x"):
        ek.ImplicitField(Bad()).gradient(_x())


def test_conditioning_batch_size_is_checked():
    field = ek.ImplicitField(tiny_mlp(4, 0, num_classes=3))
    with pytest.raises(ValueError, match=r"conditioning 'y': expected batch size 3"):
        field.gradient(_x(), y=torch.zeros(5, dtype=torch.long))


def test_subclass_must_override_a_hook():
    class Nothing(ek.EnergyField):
        pass

    with pytest.raises(TypeError, match="must override energy\\(\\) or gradient\\(\\)"):
        Nothing()


def test_subclass_with_energy_gets_autograd_gradient():
    class Bowl(ek.EnergyField):
        def energy(self, x, **cond):
            return 0.5 * x.square().sum(1)

    x = _x()
    assert Bowl().has_energy
    torch.testing.assert_close(Bowl().gradient(x), x)
    torch.testing.assert_close(Bowl()(x), x)


def test_energy_of_wrong_shape_is_rejected():
    class Bad(ek.EnergyField):
        def energy(self, x, **cond):
            return x

    with pytest.raises(ValueError, match=r"energy: expected shape \(3,\)"):
        Bad().gradient(_x())


def test_non_floating_input_is_rejected():
    with pytest.raises(
        TypeError, match=r"x: expected a floating-point tensor, got dtype torch\.int64"
    ):
        ek.ImplicitField(tiny_mlp(4, 0)).gradient(torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(TypeError, match="floating-point"):
        ek.fields.Gaussian(torch.zeros(2)).gradient(torch.zeros(3, 2, dtype=torch.long))


def test_inference_mode_gets_a_clear_error_for_explicit_energies():
    field = ek.DotEnergy(tiny_mlp(4, 0))
    with torch.inference_mode(), pytest.raises(RuntimeError, match=r"not torch\.inference_mode"):
        field.gradient(_x())
    with torch.inference_mode():  # implicit fields need no autograd and work there
        assert ek.ImplicitField(tiny_mlp(4, 0)).gradient(_x()).shape == (3, 4)


def test_weighted_sum_repr_shows_weights():
    f = ek.ImplicitField(tiny_mlp(4, 0)) + 0.5 * ek.DotEnergy(tiny_mlp(4, 1))
    assert "weights=[1.0, 0.5], offset=0.0" in repr(f)

"""Energy/gradient consistency: autograd and analytic gradients against float64 finite
differences, and gradcheck / gradgradcheck on the explicit heads."""

from __future__ import annotations

import torch
from hypothesis import given
from hypothesis import strategies as st

import energykit as ek
from tests.helpers import FD_ATOL, FD_RTOL, batches, central_difference, dims, explicit_zoo, seeds

KINDS = ["gaussian", "quadratic", "mixture", "dot", "l2"]


@given(dims, batches, seeds, st.sampled_from(KINDS))
def test_gradient_matches_finite_differences(d, b, seed, kind):
    field = explicit_zoo(d, seed)[kind]
    x = torch.randn(b, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    fd = central_difference(field.energy, x)
    torch.testing.assert_close(field.gradient(x), fd, rtol=FD_RTOL, atol=FD_ATOL)


@given(dims, batches, seeds, st.floats(-2, 2), st.floats(-2, 2))
def test_composite_gradient_matches_finite_differences(d, b, seed, wa, wb):
    zoo = explicit_zoo(d, seed)
    field = wa * zoo["mixture"] + wb * zoo["dot"] + zoo["l2"] - 1.5
    x = torch.randn(b, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    fd = central_difference(field.energy, x)
    torch.testing.assert_close(field.gradient(x), fd, rtol=FD_RTOL, atol=FD_ATOL)


def test_image_shaped_samples():
    torch.manual_seed(0)
    net = ek.nets.MLP(2 * 3 * 3, width=8, depth=1).double()
    field = ek.DotEnergy(net)
    x = torch.randn(2, 2, 3, 3, dtype=torch.float64)
    fd = central_difference(field.energy, x)
    torch.testing.assert_close(field.gradient(x), fd, rtol=FD_RTOL, atol=FD_ATOL)


def test_gradcheck_and_gradgradcheck_on_explicit_heads():
    for head in (ek.DotEnergy, ek.L2Energy):
        torch.manual_seed(0)
        field = head(ek.nets.MLP(3, width=8, depth=1).double())
        x = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(field.energy, (x,))
        assert torch.autograd.gradcheck(field.gradient, (x,))
        assert torch.autograd.gradgradcheck(field.gradient, (x,))

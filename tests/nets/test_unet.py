"""The small U-Net: shapes, conditioning, errors, and double backward for EqM-E."""

from __future__ import annotations

import pytest
import torch

import energykit as ek
from energykit.nets import UNet


@pytest.mark.parametrize("size", [8, 28])
def test_shapes_and_conditioning(size):
    x = torch.randn(3, 1, size, size)
    assert UNet(1, (8, 16))(x).shape == x.shape
    timed = UNet(1, (8, 16), time_dim=16, num_classes=10)
    out = timed(x, torch.rand(3), torch.tensor([0, 5, 10]))  # 10 is the null class
    assert out.shape == x.shape
    # Time and class inputs change the output.
    assert not torch.equal(out, timed(x, torch.rand(3), torch.tensor([0, 5, 10])))
    assert not torch.equal(out, timed(x, torch.rand(3), torch.tensor([1, 5, 10])))


def test_batch_rows_are_independent():
    net = UNet(1, (8, 16)).double()
    x = torch.randn(4, 1, 8, 8, dtype=torch.float64)
    whole = net(x)
    for i in range(4):
        torch.testing.assert_close(net(x[i : i + 1])[0], whole[i], rtol=1e-12, atol=1e-12)


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"UNet x: expected \(B, 1, H, W\)"):
        UNet(1, (8,))(torch.randn(2, 3, 8, 8))
    with pytest.raises(ValueError, match="divisible by 4"):
        UNet(1, (8, 8, 8))(torch.randn(2, 1, 6, 6))
    with pytest.raises(TypeError, match=r"t .* is required"):
        UNet(1, (8,), time_dim=8)(torch.randn(2, 1, 8, 8))
    with pytest.raises(TypeError, match="built without num_classes"):
        UNet(1, (8,))(torch.randn(2, 1, 8, 8), y=torch.zeros(2))
    with pytest.raises(ValueError, match="UNet channels"):
        UNet(1, ())


def test_explicit_energy_heads_double_backward():
    torch.manual_seed(0)
    net = UNet(1, (4, 8)).double()
    x = torch.randn(2, 1, 8, 8, dtype=torch.float64, requires_grad=True)
    for head in (ek.DotEnergy(net), ek.L2Energy(net)):
        assert torch.autograd.gradcheck(lambda z, h=head: h.energy(z), (x,))
        assert torch.autograd.gradgradcheck(lambda z, h=head: h.energy(z), (x,))

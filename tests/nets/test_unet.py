"""The U-Net: shapes, conditioning, layouts, errors, and double backward for EqM-E."""

from __future__ import annotations

import pytest
import torch

import energykit as ek
from energykit.nets import UNet

LAYOUTS = [
    pytest.param({"patch": 1, "attention": False}, id="full-resolution"),
    pytest.param({"patch": 2, "attention": True}, id="patch2-attention"),
    pytest.param({"patch": 2, "attention": False}, id="patch2"),
]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("size", [8, 28])
def test_shapes_and_conditioning(size, layout):
    x = torch.randn(3, 1, size, size)
    assert UNet(1, (8, 16), **layout)(x).shape == x.shape
    timed = UNet(1, (8, 16), time_dim=16, num_classes=10, **layout)
    out = timed(x, torch.rand(3), torch.tensor([0, 5, 10]))  # 10 is the null class
    assert out.shape == x.shape
    # Time and class inputs change the output.
    assert not torch.equal(out, timed(x, torch.rand(3), torch.tensor([0, 5, 10])))
    assert not torch.equal(out, timed(x, torch.rand(3), torch.tensor([1, 5, 10])))


def test_three_channel_32x32_with_three_levels():
    net = UNet(3, (8, 16, 16), num_classes=10)
    x = torch.randn(2, 3, 32, 32)
    assert net(x, y=torch.tensor([1, 2])).shape == x.shape


@pytest.mark.parametrize("layout", LAYOUTS)
def test_batch_rows_are_independent(layout):
    net = UNet(1, (8, 16), **layout).double()
    x = torch.randn(4, 1, 8, 8, dtype=torch.float64)
    whole = net(x)
    for i in range(4):
        torch.testing.assert_close(net(x[i : i + 1])[0], whole[i], rtol=1e-12, atol=1e-12)


def test_attention_matches_the_formula_per_head():
    from energykit.nets.unet import _Attention

    torch.manual_seed(0)
    attn = _Attention(64, head_dim=32).double()
    x = torch.randn(2, 64, 3, 5, dtype=torch.float64)
    qkv = attn.qkv(attn.norm(x)).flatten(2)  # (B, 3C, N)
    q, k, v = qkv.chunk(3, dim=1)
    heads = []
    for h in range(2):  # 64 channels / 32 per head
        rows = slice(32 * h, 32 * (h + 1))
        scores = torch.einsum("bdn,bdm->bnm", q[:, rows], k[:, rows]) / 32**0.5
        heads.append(torch.einsum("bnm,bdm->bdn", scores.softmax(dim=-1), v[:, rows]))
    expected = x + attn.proj(torch.cat(heads, dim=1).reshape(x.shape))
    torch.testing.assert_close(attn(x), expected, rtol=1e-12, atol=1e-12)


def test_full_resolution_head_unties_the_tiles():
    # Without the head, the four pixels of a 2x2 tile are four channels of one position, so
    # a pixel's output reaches the input only through the folded grid. The head adds a 3x3
    # convolution over the input itself: with every other path cut (the U-Net's output set
    # to zero), output pixel (3, 3) depends on input pixels (2..4, 2..4), exactly through
    # the head's input-channel weights.
    torch.manual_seed(0)
    net = UNet(1, (4, 8), attention=False).double()
    assert net.head is not None
    with torch.no_grad():
        net.out[2].weight.zero_()
        net.out[2].bias.zero_()
    x = torch.randn(1, 1, 8, 8, dtype=torch.float64, requires_grad=True)
    jac = torch.autograd.grad(net(x)[0, 0, 3, 3], x)[0][0, 0]
    kernel = net.head.weight[0, 2].detach()  # the input image is the head's last channel
    torch.testing.assert_close(jac[2:5, 2:5], kernel, rtol=0, atol=0)
    assert jac.abs().sum() == jac[2:5, 2:5].abs().sum()  # nothing from elsewhere


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"UNet x: expected \(B, 1, H, W\)"):
        UNet(1, (8,))(torch.randn(2, 3, 8, 8))
    with pytest.raises(ValueError, match=r"divisible by 8 \(patch 2, 3 levels\)"):
        UNet(1, (8, 8, 8))(torch.randn(2, 1, 12, 12))
    with pytest.raises(ValueError, match=r"divisible by 4 \(patch 1, 3 levels\)"):
        UNet(1, (8, 8, 8), patch=1)(torch.randn(2, 1, 6, 6))
    with pytest.raises(ValueError, match="UNet patch"):
        UNet(1, (8,), patch=0)
    with pytest.raises(TypeError, match=r"t .* is required"):
        UNet(1, (8,), time_dim=8)(torch.randn(2, 1, 8, 8))
    with pytest.raises(TypeError, match="built without num_classes"):
        UNet(1, (8,))(torch.randn(2, 1, 8, 8), y=torch.zeros(2))
    with pytest.raises(ValueError, match="UNet channels"):
        UNet(1, ())


@pytest.mark.parametrize("layout", LAYOUTS)
def test_explicit_energy_heads_double_backward(layout):
    torch.manual_seed(0)
    net = UNet(1, (4, 8), **layout).double()
    x = torch.randn(2, 1, 8, 8, dtype=torch.float64, requires_grad=True)
    for head in (ek.DotEnergy(net), ek.L2Energy(net)):
        assert torch.autograd.gradcheck(lambda z, h=head: h.energy(z), (x,))
        assert torch.autograd.gradgradcheck(lambda z, h=head: h.energy(z), (x,))


def test_recipe_net_settings_build_the_layout_or_name_the_keys():
    from energykit.train import ConfigError, Trainer, load_config

    cfg = load_config(None, ["data.name=digits", "net.kind=unet", "net.patch=1", "train.steps=1"])
    net = Trainer(cfg, progress=False).state.model
    assert isinstance(net, UNet) and net.patch == 1 and net.head is None
    deep = ["data.name=digits", "net.kind=unet", "net.channels=[4, 4, 4, 4]"]
    with pytest.raises(ValueError, match=r"net.patch, net.channels: 8x8 images need .* = 16"):
        Trainer(load_config(None, deep), progress=False)
    with pytest.raises(ConfigError, match=r"net\.patch"):
        load_config(None, ["data.name=digits", "net.kind=unet", "net.patch=0"])

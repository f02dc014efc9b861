"""The MLP backbone and the sinusoidal embedding."""

from __future__ import annotations

import math

import pytest
import torch

from energykit.nets import MLP, sinusoidal_embedding


def test_embedding_is_cos_first_with_geometric_frequencies():
    t = torch.tensor([0.0, 1.0, 2.5], dtype=torch.float64)
    emb = sinusoidal_embedding(t, 6)
    freqs = torch.tensor(
        [math.exp(-math.log(10_000) * i / 3) for i in range(3)], dtype=torch.float64
    )
    expected = torch.cat([torch.cos(t[:, None] * freqs), torch.sin(t[:, None] * freqs)], dim=1)
    torch.testing.assert_close(emb, expected)
    assert sinusoidal_embedding(t, 7).shape == (3, 7)


def test_shapes_and_conditioning():
    x = torch.randn(4, 2, 3)
    assert MLP(6)(x).shape == x.shape
    assert MLP(6, out_dim=2)(x).shape == (4, 2)
    net = MLP(6, time_dim=16, num_classes=3)
    out = net(x, t=torch.rand(4), y=torch.tensor([0, 1, 2, 3]))  # 3 is the null class
    assert out.shape == x.shape
    assert net.classes is not None and net.classes.num_embeddings == 4


def test_missing_or_unexpected_inputs():
    x = torch.randn(2, 2)
    with pytest.raises(TypeError, match="t \\(shape \\(B,\\)\\) is required"):
        MLP(2, time_dim=4)(x)
    with pytest.raises(TypeError, match="time-free"):
        MLP(2)(x, t=torch.zeros(2))
    with pytest.raises(TypeError, match="y \\(shape \\(B,\\)\\) is required"):
        MLP(2, num_classes=3)(x)
    with pytest.raises(ValueError, match="expected 3 features"):
        MLP(3)(x)
    with pytest.raises(ValueError, match="activation"):
        MLP(2, activation="relu6")


def test_skip_adds_a_full_rank_linear_path():
    torch.manual_seed(0)
    net = MLP(6, width=2, depth=1, skip=True)
    assert net.skip is not None
    with torch.no_grad():
        for p in [*net.inp.parameters(), *net.blocks.parameters(), *net.out.parameters()]:
            p.zero_()
        net.skip.weight.copy_(torch.eye(6))
        net.skip.bias.zero_()
    x = torch.randn(5, 6)
    torch.testing.assert_close(net(x), x)  # rank 6 through a width-2 net
    assert MLP(6, width=2, depth=1).skip is None

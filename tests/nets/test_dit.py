"""DiT: parameter counts of the presets, a float64 parity test written from the reference
formulas, double backward for explicit heads, activation checkpointing."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import energykit as ek
from energykit.nets.dit import DiT, count_parameters, sincos_pos_embed_2d

TINY = {
    "input_size": 8,
    "patch_size": 2,
    "in_channels": 2,
    "hidden_size": 16,
    "depth": 2,
    "num_heads": 2,
    "num_classes": 3,
}


def randomised(net: DiT, seed: int = 0) -> DiT:
    """Random weights everywhere (the zero-initialised adaLN would hide most of the maths)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return net


@pytest.mark.parametrize(
    ("name", "params", "tensors"),
    [("EqM-B/2", 130_512_416, 132), ("EqM-XL/2", 675_129_632, 292), ("S/2", 32_963_360, 132)],
)
def test_preset_parameter_counts(name, params, tensors):
    with torch.device("meta"):
        net = DiT.preset(name)
    assert count_parameters(net) == params  # pos_embed included, as the reference counts it
    assert len(net.state_dict()) == tensors


def test_preset_errors_list_the_choices():
    with pytest.raises(ValueError, match=r"expected one of \['EqM-S/2'"):
        DiT.preset("EqM-XXL/2")


def test_pos_embed_closed_form():
    table = sincos_pos_embed_2d(8, 3)  # (9, 8): [sin, cos](col w), [sin, cos](row w), w = 1, 1e-2
    token = 1 * 3 + 2  # row 1, column 2
    w = torch.tensor([1.0, 0.01], dtype=torch.float64)
    expected = torch.cat([torch.sin(2 * w), torch.cos(2 * w), torch.sin(1 * w), torch.cos(1 * w)])
    torch.testing.assert_close(table[token], expected, rtol=0, atol=1e-15)


def reference_forward(
    sd: dict, x: torch.Tensor, y: torch.Tensor, heads: int, p: int
) -> torch.Tensor:
    """The reference EqM network written from its formulas (SPEC section 4), float64."""

    def linear(z, name):
        return z @ sd[f"{name}.weight"].T + sd[f"{name}.bias"]

    def norm(z):
        mu = z.mean(-1, keepdim=True)
        return (z - mu) / torch.sqrt(((z - mu) ** 2).mean(-1, keepdim=True) + 1e-6)

    def gelu_tanh(z):
        return 0.5 * z * (1 + torch.tanh(math.sqrt(2 / math.pi) * (z + 0.044715 * z**3)))

    n, c_in = x.shape[:2]
    h = F.conv2d(x, sd["x_embedder.proj.weight"], sd["x_embedder.proj.bias"], stride=p)
    h = h.flatten(2).transpose(1, 2) + sd["pos_embed"]
    t = torch.zeros(n, dtype=x.dtype)
    freqs = torch.exp(-math.log(10000) * torch.arange(128, dtype=x.dtype) / 128)
    emb = torch.cat([torch.cos(t[:, None] * freqs), torch.sin(t[:, None] * freqs)], dim=1)
    c = linear(F.silu(linear(emb, "t_embedder.mlp.0")), "t_embedder.mlp.2")
    c = c + sd["y_embedder.embedding_table.weight"][y]
    d = h.shape[-1]
    i = 0
    while f"blocks.{i}.attn.qkv.weight" in sd:
        b = f"blocks.{i}"
        mods = linear(F.silu(c), f"{b}.adaLN_modulation.1").chunk(6, dim=1)
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = (m[:, None] for m in mods)
        a = norm(h) * (1 + scale_msa) + shift_msa
        qkv = linear(a, f"{b}.attn.qkv").reshape(n, -1, 3, heads, d // heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d // heads), dim=-1) @ v
        h = h + gate_msa * linear(att.transpose(1, 2).reshape(n, -1, d), f"{b}.attn.proj")
        m = norm(h) * (1 + scale_mlp) + shift_mlp
        h = h + gate_mlp * linear(gelu_tanh(linear(m, f"{b}.mlp.fc1")), f"{b}.mlp.fc2")
        i += 1
    shift, scale = linear(F.silu(c), "final_layer.adaLN_modulation.1").chunk(2, dim=1)
    h = linear(norm(h) * (1 + scale[:, None]) + shift[:, None], "final_layer.linear")
    g = int(math.sqrt(h.shape[1]))
    c_out = h.shape[-1] // (p * p)
    h = h.reshape(n, g, g, p, p, c_out)
    out = torch.einsum("nhwpqc->nchpwq", h).reshape(n, c_out, g * p, g * p)
    return out[:, :c_in]


def test_parity_with_the_reference_formulas_float64():
    net = randomised(DiT(**TINY)).double()
    x = torch.randn(3, 2, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([0, 2, 3])  # 3 is the null class
    expected = reference_forward(net.state_dict(), x, y, heads=2, p=2)
    torch.testing.assert_close(net(x, y=y), expected, rtol=1e-12, atol=1e-12)
    # The input-differentiable attention path computes the same function.
    xg = x.clone().requires_grad_(True)
    torch.testing.assert_close(net(xg, y=y), expected, rtol=1e-12, atol=1e-12)


def test_explicit_heads_double_backward_through_attention():
    net = randomised(DiT(**{**TINY, "input_size": 4, "depth": 1, "num_classes": None})).double()
    x = torch.randn(2, 2, 4, 4, dtype=torch.float64, requires_grad=True)
    for head in (ek.DotEnergy(net), ek.L2Energy(net)):
        assert torch.autograd.gradgradcheck(lambda z, h=head: h.energy(z), (x,))


def test_gradient_checkpointing_changes_nothing():
    net = randomised(DiT(**TINY))
    x = torch.randn(2, 2, 8, 8)
    y = torch.tensor([1, 2])
    out = net(x, y=y).square().sum()
    grads = torch.autograd.grad(out, list(net.parameters()))
    net.grad_checkpointing = True
    out2 = net(x, y=y).square().sum()
    grads2 = torch.autograd.grad(out2, list(net.parameters()))
    torch.testing.assert_close(out2, out)
    for a, b in zip(grads, grads2, strict=True):
        torch.testing.assert_close(a, b)


def test_zero_init_gives_zero_output_and_input_errors():
    net = DiT(**TINY)
    assert torch.equal(
        net(torch.randn(2, 2, 8, 8), y=torch.tensor([0, 1])), torch.zeros(2, 2, 8, 8)
    )
    with pytest.raises(ValueError, match=r"DiT x: expected \(B, 2, 8, 8\)"):
        net(torch.randn(2, 2, 6, 6), y=torch.tensor([0, 1]))
    with pytest.raises(TypeError, match=r"y .* is required"):
        net(torch.randn(2, 2, 8, 8))
    with pytest.raises(ValueError, match="multiple of patch_size"):
        DiT(**{**TINY, "input_size": 7})


def test_fused_attention_unless_the_input_is_differentiated(monkeypatch):
    from energykit.nets import dit

    calls = []
    fused = dit.F.scaled_dot_product_attention

    def counting(*args, **kwargs):
        calls.append(1)
        return fused(*args, **kwargs)

    monkeypatch.setattr(dit.F, "scaled_dot_product_attention", counting)
    net = randomised(DiT(**TINY))  # depth 2: two attention calls per forward
    x, y = torch.randn(2, 2, 8, 8), torch.tensor([0, 1])
    net(x, y=y).sum().backward()  # implicit training: parameters need grad, the input does not
    assert len(calls) == 2
    ek.DotEnergy(net).gradient(x, y=y)  # explicit head: differentiates w.r.t. the input
    assert len(calls) == 2

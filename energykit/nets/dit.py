"""The DiT / SiT transformer with adaLN-Zero, as used by EqM (time-free by default).

Layout and parameter names follow the reference EqM release so its checkpoints load without
renaming (see `energykit.interop`): `x_embedder.proj`, `t_embedder.mlp.{0,2}`,
`y_embedder.embedding_table`, `blocks.{i}.attn.{qkv,proj}`, `blocks.{i}.mlp.{fc1,fc2}`,
`blocks.{i}.adaLN_modulation.1`, `final_layer.{linear,adaLN_modulation.1}`, `pos_embed`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from energykit._checks import check_int, check_labels, check_per_sample, check_real
from energykit.nets.embeddings import sinusoidal_embedding

#: Width of the sinusoidal time embedding fed to the time MLP (as in DiT / SiT / EqM).
TIME_FREQ_DIM = 256


@dataclass(frozen=True)
class DiTSize:
    """Depth, width and heads of a named model size."""

    depth: int
    hidden_size: int
    num_heads: int


#: Model sizes of the paper (parameters at patch 2: S ~33M, B ~130M, L ~458M, XL ~675M).
SIZES = {
    "S": DiTSize(12, 384, 6),
    "B": DiTSize(12, 768, 12),
    "L": DiTSize(24, 1024, 16),
    "XL": DiTSize(28, 1152, 16),
}


def sincos_pos_embed_2d(dim: int, grid: int) -> Tensor:
    """Fixed 2-D sin-cos positional table `(grid * grid, dim)`, computed in float64.

    Half the channels encode the row coordinate and half the column, each as
    `[sin(p w_k), cos(p w_k)]` with $w_k = 10000^{-k / (dim/4)}$ (the MAE / DiT table; the
    reference stores it rounded to float32).
    """
    if dim % 4:
        raise ValueError(f"sincos_pos_embed_2d dim: expected a multiple of 4, got {dim}")
    coords = np.arange(grid, dtype=np.float64)
    col, row = np.meshgrid(coords, coords)  # DiT's order: w first, then h
    omega = 1.0 / 10000 ** (np.arange(dim // 4, dtype=np.float64) / (dim / 4.0))

    def encode(pos: np.ndarray) -> np.ndarray:
        out = np.einsum("m,d->md", pos.reshape(-1), omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)

    table = np.concatenate([encode(col), encode(row)], axis=1)
    return torch.from_numpy(table)


def preset_kwargs(name: str) -> dict[str, int]:
    """`depth`, `hidden_size`, `num_heads` and `patch_size` of a paper model such as
    `"EqM-XL/2"` (the `EqM-` prefix is optional)."""
    size, _, patch = name.removeprefix("EqM-").partition("/")
    if size not in SIZES or patch not in ("2", "4", "8"):
        choices = [f"EqM-{s}/{p}" for s in SIZES for p in (2, 4, 8)]
        raise ValueError(f"DiT preset name: expected one of {choices}, got {name!r}")
    s = SIZES[size]
    return {
        "depth": s.depth,
        "hidden_size": s.hidden_size,
        "num_heads": s.num_heads,
        "patch_size": int(patch),
    }


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """`x * (1 + scale) + shift` with per-sample `(B, D)` shift and scale over tokens."""
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


class _PatchEmbed(nn.Module):
    def __init__(self, patch: int, channels: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(channels, dim, kernel_size=patch, stride=patch, bias=True)

    def forward(self, x: Tensor) -> Tensor:
        return rearrange(self.proj(x), "b d h w -> b (h w) d")


class _TimeEmbed(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(TIME_FREQ_DIM, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: Tensor) -> Tensor:
        return self.mlp(sinusoidal_embedding(t, TIME_FREQ_DIM))


class _LabelEmbed(nn.Module):
    def __init__(self, num_classes: int, dim: int, null_row: bool) -> None:
        super().__init__()
        self.embedding_table = nn.Embedding(num_classes + int(null_row), dim)

    def forward(self, y: Tensor) -> Tensor:
        return self.embedding_table(y)


class _Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, input_graph: bool = False) -> Tensor:
        q, k, v = rearrange(self.qkv(x), "b t (three h d) -> three b h t d", three=3, h=self.heads)
        if input_graph:
            # The model is differentiated w.r.t. its input (explicit energies): plain softmax
            # attention, whose double backward works on every device and kernel.
            # Scaling q, not the (T, T) scores, keeps the big tensor out of two products.
            w = (q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)
            out = w.softmax(dim=-1) @ v
        else:
            out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(rearrange(out, "b h t d -> b t (h d)"))


class _MLP(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU(approximate="tanh")
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class _Block(nn.Module):
    """`x + gate_msa * attn(modulate(norm1 x))`, then the same with the MLP (adaLN-Zero)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.attn = _Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.mlp = _MLP(dim, int(dim * mlp_ratio))
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))

    def forward(self, x: Tensor, c: Tensor, input_graph: bool = False) -> Tensor:
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = self.adaLN_modulation(
            c
        ).chunk(6, dim=1)
        a = self.attn(modulate(self.norm1(x), shift_msa, scale_msa), input_graph)
        x = x + gate_msa.unsqueeze(1) * a
        return x + gate_mlp.unsqueeze(1) * self.mlp(modulate(self.norm2(x), shift_mlp, scale_mlp))


class _FinalLayer(nn.Module):
    def __init__(self, dim: int, patch: int, out_channels: int) -> None:
        super().__init__()
        self.norm_final = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(dim, patch * patch * out_channels)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim))

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=1)
        return self.linear(modulate(self.norm_final(x), shift, scale))


class DiT(nn.Module):
    """Diffusion transformer `(B, C, H, W) -> (B, C, H, W)` with adaLN-Zero conditioning.

    The conditioning vector is $c = \\mathrm{temb}(t) + \\mathrm{yemb}(y)$; EqM is time-free,
    so `t` defaults to 0 (the time MLP is kept, as in the reference, so its checkpoints load).
    With `learn_sigma` the head predicts `2C` channels and the last `C` are dropped (the
    reference's legacy layout). Argument names are the reference constructor's.

    Args:
        input_size: Latent height and width (32 for 256 px images through the SD VAE).
        patch_size: Patch side `p`; `input_size` must be divisible by it.
        in_channels: Channels `C`.
        hidden_size: Width `D`.
        depth: Number of blocks.
        num_heads: Attention heads (must divide `D`).
        mlp_ratio: MLP hidden width over `D`.
        class_dropout_prob: Above 0, the label table gets a null-class row (index
            `num_classes`) for classifier-free guidance; label dropout itself is the trainer's.
        num_classes: Classes; `None` or 0 for an unconditional model.
        learn_sigma: Predict `2C` channels and keep the first `C`.
        grad_checkpointing: Recompute each block in the backward pass (saves memory).
    """

    def __init__(
        self,
        input_size: int = 32,
        patch_size: int = 2,
        in_channels: int = 4,
        hidden_size: int = 1152,
        depth: int = 28,
        num_heads: int = 16,
        mlp_ratio: float = 4.0,
        class_dropout_prob: float = 0.1,
        num_classes: int | None = 1000,
        learn_sigma: bool = True,
        grad_checkpointing: bool = False,
    ) -> None:
        super().__init__()
        self.input_size = check_int("DiT input_size", input_size, minimum=1)
        self.patch_size = check_int("DiT patch_size", patch_size, minimum=1)
        self.in_channels = check_int("DiT in_channels", in_channels, minimum=1)
        hidden_size = check_int("DiT hidden_size", hidden_size, minimum=1)
        num_heads = check_int("DiT num_heads", num_heads, minimum=1)
        depth = check_int("DiT depth", depth, minimum=1)
        mlp_ratio = check_real("DiT mlp_ratio", mlp_ratio, minimum=0.0, strict=True)
        class_dropout_prob = check_real("DiT class_dropout_prob", class_dropout_prob, minimum=0.0)
        if class_dropout_prob > 1.0:
            raise ValueError(
                f"DiT class_dropout_prob: expected a value in [0, 1], got {class_dropout_prob}"
            )
        if num_classes is not None:
            num_classes = check_int("DiT num_classes", num_classes, minimum=0)
        if input_size % patch_size:
            raise ValueError(
                f"DiT input_size: expected a multiple of patch_size={patch_size}, got {input_size}"
            )
        if hidden_size % num_heads or hidden_size % 4:
            raise ValueError(
                f"DiT hidden_size: expected a multiple of num_heads={num_heads} and of 4, "
                f"got {hidden_size}"
            )
        self.out_channels = in_channels * (2 if learn_sigma else 1)
        self.num_classes = num_classes or None
        self.grad_checkpointing = grad_checkpointing
        grid = input_size // patch_size
        self.x_embedder = _PatchEmbed(patch_size, in_channels, hidden_size)
        self.t_embedder = _TimeEmbed(hidden_size)
        self.y_embedder = (
            None
            if self.num_classes is None
            else _LabelEmbed(self.num_classes, hidden_size, class_dropout_prob > 0)
        )
        pos = sincos_pos_embed_2d(hidden_size, grid).float().unsqueeze(0)
        self.register_buffer("pos_embed", pos)  # (1, T, D), frozen; saved in the state dict
        self.blocks = nn.ModuleList(
            [_Block(hidden_size, num_heads, mlp_ratio) for _ in range(depth)]
        )
        self.final_layer = _FinalLayer(hidden_size, patch_size, self.out_channels)
        self.reset_parameters()

    @classmethod
    def preset(cls, name: str, **overrides: object) -> DiT:
        """A paper model by name, `"EqM-S/2"` ... `"EqM-XL/8"` (also `"S/2"`), e.g.
        `DiT.preset("EqM-XL/2")` (675,129,632 parameters with the legacy 8-channel head)."""
        return cls(**{**preset_kwargs(name), **overrides})  # type: ignore[arg-type]

    def reset_parameters(self) -> None:
        """The reference initialisation: xavier-uniform linears with zero biases, patch
        embedding as a linear, label table and time MLP N(0, 0.02), adaLN and output zero."""

        def linear_init(m: nn.Module) -> None:
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

        self.apply(linear_init)
        params = dict(self.named_parameters())
        w = params["x_embedder.proj.weight"]
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.zeros_(params["x_embedder.proj.bias"])
        for name in ("y_embedder.embedding_table.weight", "t_embedder.mlp.0.weight"):
            if name in params:
                nn.init.normal_(params[name], std=0.02)
        nn.init.normal_(params["t_embedder.mlp.2.weight"], std=0.02)
        for name, p in params.items():
            if "adaLN_modulation" in name or name.startswith("final_layer.linear"):
                nn.init.zeros_(p)

    @property
    def label_rows(self) -> int | None:
        """Rows of the class table (`num_classes`, plus the null row with label dropout)."""
        return None if self.y_embedder is None else self.y_embedder.embedding_table.num_embeddings

    def forward(self, x: Tensor, t: Tensor | None = None, y: Tensor | None = None) -> Tensor:
        """Map latents `(B, C, H, W)` (plus time `(B,)`, default 0, and labels `(B,)`) to
        `(B, C, H, W)`."""
        b = x.shape[0]
        expected = (self.in_channels, self.input_size, self.input_size)
        if x.ndim != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(
                f"DiT x: expected (B, {', '.join(map(str, expected))}), got {tuple(x.shape)}"
            )
        t = torch.zeros(b, dtype=x.dtype, device=x.device) if t is None else t
        t = check_per_sample("DiT t", t, b)
        c = self.t_embedder(t.to(x.dtype))
        if self.y_embedder is not None:
            if y is None:
                raise TypeError("DiT: built with num_classes, so y (shape (B,)) is required")
            labels = check_labels("DiT y", y, self.label_rows).to(x.device)
            c = c + self.y_embedder(labels.long().expand(b))
        elif y is not None:
            raise TypeError("DiT: built without num_classes, but y was given")
        # Fast fused attention unless the caller differentiates w.r.t. the input (EqM-E).
        input_graph = x.requires_grad and torch.is_grad_enabled()
        h = self.x_embedder(x) + self.pos_embed.to(x.dtype)
        for block in self.blocks:
            if self.grad_checkpointing and torch.is_grad_enabled():
                h = checkpoint(block, h, c, input_graph, use_reentrant=False)
            else:
                h = block(h, c, input_graph)
        h = self.final_layer(h, c)  # (B, T, p*p*C_out)
        p, g = self.patch_size, self.input_size // self.patch_size
        # Drop the legacy sigma channels before unpatchifying (a copy, not a view of h).
        h = h.unflatten(-1, (p, p, self.out_channels))[..., : self.in_channels]
        return rearrange(h, "b (gh gw) p q c -> b c (gh p) (gw q)", gh=g, gw=g)

    @property
    def tokens(self) -> int:
        """Number of patch tokens `T = (input_size / patch_size)^2`."""
        return (self.input_size // self.patch_size) ** 2


def count_parameters(model: nn.Module, *, include_buffers: bool = True) -> int:
    """Parameters (and, by default, the frozen `pos_embed` buffer, as the reference counts it)."""
    n = sum(p.numel() for p in model.parameters())
    if include_buffers:
        n += sum(b.numel() for b in model.buffers())
    return n


__all__ = ["SIZES", "DiT", "count_parameters", "modulate", "preset_kwargs", "sincos_pos_embed_2d"]

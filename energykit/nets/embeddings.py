"""Sinusoidal embeddings of a scalar level (time) per sample."""

from __future__ import annotations

import math

import torch
from torch import Tensor

#: Largest period of the sinusoidal embedding (as in DiT / SiT / EqM).
MAX_PERIOD = 10_000.0


def sinusoidal_embedding(t: Tensor, dim: int, max_period: float = MAX_PERIOD) -> Tensor:
    """Embed `t` of shape `(B,)` into `(B, dim)`: `[cos(t w_i), sin(t w_i)]`, cos half first.

    Frequencies $w_i = \\text{max\\_period}^{-i / (dim/2)}$, $i < dim/2$. The cos-first order
    matches the reference EqM/DiT time embedder. An odd `dim` gets one zero column.
    """
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise ValueError(f"sinusoidal_embedding dim: expected an int >= 1, got {dim!r}")
    if not isinstance(t, Tensor) or t.ndim != 1:
        got = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
        raise ValueError(f"sinusoidal_embedding t: expected shape (B,), got {got}")
    half = dim // 2
    dtype = t.dtype if t.is_floating_point() else torch.get_default_dtype()
    steps = torch.arange(half, dtype=dtype, device=t.device)
    freqs = torch.exp(-math.log(max_period) * steps / half)
    args = t.to(dtype)[:, None] * freqs[None]  # (B, half)
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb

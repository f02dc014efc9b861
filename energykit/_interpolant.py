"""The linear interpolant between noise and data and its random draws, shared by the
objectives (training) and the tasks (`tasks.noise`), so both draw alike for one generator."""

from __future__ import annotations

import torch
from torch import Tensor

from energykit._checks import batch_view


def interpolate(x: Tensor, noise: Tensor, gamma: Tensor) -> Tensor:
    """$x_\\gamma = \\gamma x + (1 - \\gamma) \\epsilon$: $\\gamma = 0$ is noise, 1 is data.

    Args:
        x: Data, `(B, *shape)`.
        noise: $\\epsilon$, same shape.
        gamma: Per-sample levels, `(B,)`.

    Returns:
        The interpolant, `(B, *shape)`.
    """
    g = batch_view(gamma.to(x.dtype), x)
    return g * x + (1 - g) * noise


def draw_levels(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """$\\gamma \\sim U[0, 1)$ per sample, `(B,)`, on `x`'s device and dtype (a `generator`
    must live on that device)."""
    return torch.rand(x.shape[0], generator=generator, device=x.device, dtype=x.dtype)


def draw_noise(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """$\\epsilon \\sim \\mathcal N(0, I)$ shaped like `x`, on its device and dtype (a
    `generator` must live on that device)."""
    return torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)

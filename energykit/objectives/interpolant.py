"""The linear interpolant between noise and data, and its random draws."""

from __future__ import annotations

import torch
from torch import Tensor

from energykit._checks import (
    batch_view,
    check_batch,
    check_finite_fast,
    check_shape,
    check_unit_interval,
)


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
    """$\\gamma \\sim U[0, 1)$ per sample, `(B,)`, on `x`'s device and dtype."""
    return torch.rand(x.shape[0], generator=generator, device=x.device, dtype=x.dtype)


def draw_noise(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """$\\epsilon \\sim \\mathcal N(0, I)$ shaped like `x`."""
    return torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)


def draw_batch(
    x: Tensor,
    t: Tensor | None,
    noise: Tensor | None,
    generator: torch.Generator | None,
    t_name: str,
) -> tuple[Tensor, Tensor, Tensor]:
    """Validate `x` and complete the injected draws: returns `(x_t, t, noise)`.

    Drawn levels and noise are not checked; data and injected values are: `x` must be a
    non-empty floating batch of finite values (one reduction per call, skipped under
    `torch.compile`), injected levels lie in `[0, 1]`, injected noise is finite and in
    `x`'s dtype.

    Args:
        x: Data, `(B, *shape)`, floating point.
        t: Levels `(B,)`, or `None` to draw $U[0, 1)$.
        noise: $\\epsilon$ shaped like `x`, or `None` to draw $\\mathcal N(0, I)$.
        generator: Random generator for the draws.
        t_name: How the caller calls the level (`gamma` or `t`), for error messages.
    """
    x = check_finite_fast("x", check_batch("x", x))
    t = draw_levels(x, generator) if t is None else _injected_levels(t_name, t, x)
    noise = draw_noise(x, generator) if noise is None else _injected_noise(noise, x)
    return interpolate(x, noise, t), t, noise


def _injected_levels(name: str, t: Tensor, x: Tensor) -> Tensor:
    return check_unit_interval(name, check_shape(name, t, (x.shape[0],)))


def _injected_noise(noise: Tensor, x: Tensor) -> Tensor:
    noise = check_shape("noise", noise, x.shape)
    if noise.dtype != x.dtype:
        raise TypeError(f"noise: expected dtype {x.dtype} (that of x), got {noise.dtype}")
    return check_finite_fast("noise", noise)

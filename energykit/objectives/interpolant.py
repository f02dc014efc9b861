"""The linear interpolant between noise and data, and its random draws.

`interpolate`, `draw_levels` and `draw_noise` live in `energykit._interpolant` (the tasks use
them too) and are re-exported here unchanged.
"""

from __future__ import annotations

import torch
from torch import Tensor

from energykit._checks import (
    check_batch,
    check_finite_fast,
    check_shape,
    check_unit_interval,
)
from energykit._interpolant import draw_levels, draw_noise, interpolate
from energykit.objectives.coupling import Coupling

__all__ = ["draw_batch", "draw_levels", "draw_noise", "interpolate"]


def draw_batch(
    x: Tensor,
    t: Tensor | None,
    noise: Tensor | None,
    generator: torch.Generator | None,
    t_name: str,
    coupling: Coupling,
) -> tuple[Tensor, Tensor, Tensor]:
    """Validate `x`, complete the injected draws and pair the noise with the data: returns
    `(x_t, t, noise)`, `noise` being the coupled noise (the target's too).

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
        coupling: Pairs the noise (drawn or injected) with `x`, drawing from `generator`
            after the levels and the noise (`Independent` draws nothing).
    """
    x = check_finite_fast("x", check_batch("x", x))
    t = draw_levels(x, generator) if t is None else _injected_levels(t_name, t, x)
    noise = draw_noise(x, generator) if noise is None else _injected_noise(noise, x)
    noise = coupling(x, noise, generator)
    return interpolate(x, noise, t), t, noise


def _injected_levels(name: str, t: Tensor, x: Tensor) -> Tensor:
    return check_unit_interval(name, check_shape(name, t, (x.shape[0],)))


def _injected_noise(noise: Tensor, x: Tensor) -> Tensor:
    noise = check_shape("noise", noise, x.shape)
    if noise.dtype != x.dtype:
        raise TypeError(f"noise: expected dtype {x.dtype} (that of x), got {noise.dtype}")
    return check_finite_fast("noise", noise)

"""Denoising from partial noise: descend from $x_\\gamma$ with no noise level given.

EqM's landscape has no time input, so a partially noised image is just another starting
point: the same descent that turns pure noise into a sample brings $x_\\gamma$ back to the data
manifold. A flow-matching model needs to be told where on its time axis $x_\\gamma$ sits.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from energykit._checks import check_batch, check_finite_tensor, check_unit_interval
from energykit._interpolant import draw_noise, interpolate
from energykit.descent import PAPER_STEPS, DescentResult, DescentSettings
from energykit.descent.resolve import OptimizerSpec
from energykit.fields import EnergyField


def check_field(field: object) -> EnergyField:
    """Require an `EnergyField` (a bare net must be wrapped first)."""
    if not isinstance(field, EnergyField):
        raise TypeError(
            f"field: expected an EnergyField (wrap a net with ImplicitField, DotEnergy or "
            f"L2Energy), got {type(field).__name__}"
        )
    return field


def noise(x: Tensor, gamma: float | Tensor, *, generator: torch.Generator | None = None) -> Tensor:
    """The interpolant $x_\\gamma = \\gamma x + (1 - \\gamma)\\varepsilon$,
    $\\varepsilon \\sim \\mathcal N(0, I)$: $\\gamma = 1$ is `x`, 0 pure noise.

    The noise is drawn as the objectives draw it (`energykit.objectives.draw_noise`), so one
    generator state gives the same $\\varepsilon$ here as in `EqMLoss`.

    Args:
        x: Clean inputs `(B, *shape)`.
        gamma: One level, or one per sample `(B,)`, in $[0, 1]$.
        generator: Draws $\\varepsilon$; it must live on `x`'s device.

    Returns:
        $x_\\gamma$, `(B, *shape)`.

    Raises:
        ValueError: an empty or non-finite `x`, or `gamma` outside $[0, 1]$ (or NaN).
    """
    x = check_finite_tensor("x", check_batch("x", x))
    g = torch.as_tensor(gamma, dtype=x.dtype, device=x.device)
    if g.ndim > 1 or (g.ndim == 1 and g.shape[0] != x.shape[0]):
        raise ValueError(f"gamma: expected a number or shape ({x.shape[0]},), got {tuple(g.shape)}")
    check_unit_interval("gamma", g)
    return interpolate(x, draw_noise(x, generator), g.expand(x.shape[0]))


def denoise(
    field: EnergyField,
    x_noisy: Tensor,
    *,
    optimizer: OptimizerSpec = "nag",
    lr: float | None = None,
    steps: int = PAPER_STEPS,
    g_min: float | None = None,
    momentum: float | None = None,
    **cond: Any,
) -> DescentResult:
    """Descend on `field` from `x_noisy`; the model is never told the noise level.

    Args:
        field: The landscape (paper sign: the gradient points uphill).
        x_noisy: Inputs `(B, *shape)` at any, unknown, noise level.
        optimizer: Any `Descender` optimiser; `"nag"` is the paper's NAG-GD.
        lr: Step size; default `default_lr(steps)` $= 0.425 / $ `steps` (the paper's 0.0017
            at 250 steps).
        steps: Step budget (default `PAPER_STEPS`, 250).
        g_min: Adaptive compute: stop a sample once $\\lVert\\nabla E\\rVert$ falls below it
            (inputs that are already clean stop at once).
        momentum: NAG-GD look-ahead $\\mu$ (default `PAPER_MOMENTUM`, 0.3, for `"nag"`) or
            SGD momentum.
        **cond: Conditioning passed to the field (e.g. `y=labels`).

    Returns:
        The `DescentResult` (`x`, per-sample `steps`, `nfe`, ...).

    Raises:
        TypeError: `field` is not an `EnergyField`, `x_noisy` not a floating tensor.
        ValueError: an empty or non-finite `x_noisy`, or a bad `steps`/`lr`/`g_min`.
    """
    x_noisy = check_finite_tensor("x_noisy", check_batch("x_noisy", x_noisy))
    settings = DescentSettings(optimizer, steps, lr, g_min, momentum)
    descender = settings.descender(check_field(field))
    return descender.run(x_noisy, **cond)


__all__ = ["denoise", "noise"]

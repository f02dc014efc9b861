"""The Equilibrium Matching objective (paper Eq. 5) for implicit and explicit fields."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from energykit._checks import (
    batch_norm,
    batch_view,
    check_floating,
    check_gradient,
    check_shape,
)
from energykit.fields.base import EnergyField
from energykit.objectives.interpolant import draw_levels, draw_noise, interpolate
from energykit.objectives.output import LossOutput
from energykit.objectives.schedules import Schedule, TruncatedDecay


class EqMLoss:
    """$\\mathcal L = \\mathbb E\\, \\lVert \\nabla E(x_\\gamma) - (\\epsilon - x)\\, c(\\gamma)
    \\rVert^2$, the squared error averaged over non-batch dimensions, then over the batch.

    The field gets no level input. For an explicit field (`DotEnergy`, `L2Energy`), its
    gradient is built with `create_graph=True` (grad mode is on while training), so
    `loss.backward()` is the double backward of EqM-E.

    Args:
        schedule: $c(\\gamma)$; the paper's `TruncatedDecay(a=0.8, scale=4.0)` by default.
    """

    def __init__(self, schedule: Schedule | None = None) -> None:
        self.schedule = TruncatedDecay() if schedule is None else schedule
        if not isinstance(self.schedule, Schedule):
            raise TypeError(f"EqMLoss schedule: expected a Schedule, got {type(schedule)}")

    def target(self, x: Tensor, noise: Tensor, gamma: Tensor) -> Tensor:
        """$(\\epsilon - x)\\, c(\\gamma)$, shaped like `x`."""
        return (noise - x) * batch_view(self.schedule(gamma).to(x.dtype), x)

    def __call__(
        self,
        field: EnergyField,
        x: Tensor,
        *,
        gamma: Tensor | None = None,
        noise: Tensor | None = None,
        generator: torch.Generator | None = None,
        **cond: Any,
    ) -> LossOutput:
        """Evaluate the loss on a batch of data.

        Args:
            field: The field being trained.
            x: Data, `(B, *shape)`.
            gamma: Levels `(B,)`; drawn from $U[0, 1)$ when `None`.
            noise: $\\epsilon$ shaped like `x`; drawn from $\\mathcal N(0, I)$ when `None`.
            generator: Random generator for the draws.
            **cond: Conditioning passed to the field.
        """
        x = check_floating("x", x)
        gamma = draw_levels(x, generator) if gamma is None else gamma
        noise = draw_noise(x, generator) if noise is None else noise
        check_shape("noise", noise, x.shape)
        check_shape("gamma", gamma, (x.shape[0],))
        x_gamma = interpolate(x, noise, gamma)
        target = self.target(x, noise, gamma)
        pred = check_gradient(field, x_gamma, field.gradient(x_gamma, **cond))
        per_sample = (pred - target).square().reshape(x.shape[0], -1).mean(dim=1)
        return LossOutput(
            loss=per_sample.mean(),
            per_sample=per_sample,
            t=gamma,
            prediction_norm=batch_norm(pred.detach()),
            target_norm=batch_norm(target),
        )

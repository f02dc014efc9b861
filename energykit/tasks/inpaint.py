"""Inpainting by descent: unknown entries move down the landscape, known ones stay fixed.

With a mask $m$ (1 = known), the descent follows $(1 - m) \\odot \\nabla E(x)$ from
$x_0 = m \\odot x + (1 - m) \\odot \\varepsilon$, so it minimises $E$ over the unknown entries
with the known ones as constants. For a Gaussian energy that minimum is the conditional mean.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import Tensor

from energykit._checks import check_floating
from energykit.descent import DescentResult
from energykit.descent.resolve import OptimizerSpec
from energykit.fields import EnergyField
from energykit.tasks.denoise import paper_descender


class _Masked(EnergyField):
    """`field` with the gradient zeroed on known entries; the mask rides along as a per-sample
    keyword, so adaptive compute slices it with the active rows."""

    def __init__(self, field: EnergyField) -> None:
        super().__init__()
        self.field = field

    @property
    def label(self) -> str:
        return f"Masked({self.field.label})"

    def gradient(self, x: Tensor, **cond: Any) -> Tensor:
        keep = 1 - cond.pop("inpaint_mask").to(x.dtype)
        return self.field.gradient(x, **cond) * keep


def inpaint(
    field: EnergyField,
    x: Tensor,
    mask: Tensor,
    *,
    optimizer: OptimizerSpec = "nag",
    lr: float | None = None,
    steps: int = 250,
    g_min: float | None = None,
    momentum: float | None = None,
    init: Tensor | None = None,
    generator: torch.Generator | None = None,
    **cond: Any,
) -> DescentResult:
    """Fill the entries of `x` where `mask == 0` by descent on `field`.

    Args:
        field: The landscape.
        x: Inputs `(B, *shape)`; values at unknown entries are ignored.
        mask: 1 = known, 0 = to fill; shape `x.shape` or broadcastable to it
            (e.g. `(1, *shape)` for one mask for all).
        optimizer: Any `Descender` optimiser; `"nag"` is the paper's NAG-GD.
        lr: Step size; default $0.425 / $ `steps`.
        steps: Step budget.
        g_min: Adaptive compute threshold on the masked gradient norm.
        momentum: NAG-GD look-ahead (default 0.3 for `"nag"`) or SGD momentum.
        init: Starting values for the unknown entries (default standard normal noise).
        generator: Draws the default `init`.
        **cond: Conditioning passed to the field.

    Returns:
        The `DescentResult`; its `x` equals `x` exactly on known entries.
    """
    x = check_floating("x", x)
    m = torch.as_tensor(mask, device=x.device).to(x.dtype)
    try:
        m = torch.broadcast_to(m, x.shape)
    except RuntimeError:
        raise ValueError(
            f"mask: expected a shape broadcastable to x {tuple(x.shape)}, got {tuple(m.shape)}"
        ) from None
    if not bool(((m == 0) | (m == 1)).all()):
        raise ValueError("mask: expected only 0 (fill) and 1 (known)")
    if init is None:
        init = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
    x0 = m * x + (1 - m) * init
    descender = paper_descender(
        _Masked(field), optimizer, lr=lr, steps=steps, g_min=g_min, momentum=momentum
    )
    result = descender.run(x0, inpaint_mask=m.contiguous(), **cond)
    # Known entries exactly as given (the optimiser never moved them; this removes round-off).
    return dataclasses.replace(result, x=m * x + (1 - m) * result.x)


__all__ = ["inpaint"]

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

from energykit._checks import check_batch, check_finite_tensor, check_shape
from energykit.descent import PAPER_STEPS, DescentResult, DescentSettings
from energykit.descent.resolve import OptimizerSpec
from energykit.fields import EnergyField
from energykit.tasks.denoise import check_field


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
    steps: int = PAPER_STEPS,
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
        lr: Step size; default `default_lr(steps)` $= 0.425 / $ `steps`.
        steps: Step budget (default `PAPER_STEPS`, 250).
        g_min: Adaptive compute threshold on the masked gradient norm.
        momentum: NAG-GD look-ahead (default `PAPER_MOMENTUM`, 0.3, for `"nag"`) or SGD
            momentum.
        init: Starting values for the unknown entries (default standard normal noise).
        generator: Draws the default `init`.
        **cond: Conditioning passed to the field.

    Returns:
        The `DescentResult`; its `x` equals `x` exactly on known entries.

    Raises:
        TypeError: `field` is not an `EnergyField`, or `x` is not a floating tensor.
        ValueError: an empty batch, a mask that is not 0/1 or does not broadcast to `x`,
            non-finite known entries, or `init` not shaped like `x`.
    """
    check_field(field)
    x = check_batch("x", x)
    known = _binary_mask(mask, x)
    # Unknown entries are ignored: replaced before any check, so NaN there is fine.
    x = check_finite_tensor("x", torch.where(known, x, torch.zeros_like(x)))
    if init is None:
        init = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
    else:
        init = check_shape("init", init, x.shape).to(device=x.device, dtype=x.dtype)
        check_finite_tensor("init", torch.where(known, torch.zeros_like(init), init))
    m = known.to(x.dtype)
    x0 = torch.where(known, x, init)
    settings = DescentSettings(optimizer, steps, lr, g_min, momentum)
    descender = settings.descender(_Masked(field))
    result = descender.run(x0, inpaint_mask=m.contiguous(), **cond)
    # Known entries exactly as given (the optimiser never moved them; this removes round-off).
    return dataclasses.replace(result, x=torch.where(known, x, result.x))


def _binary_mask(mask: object, x: Tensor) -> Tensor:
    """The mask as a bool tensor of `x`'s shape (True = known).

    Raises:
        TypeError: `mask` cannot be read as a tensor.
        ValueError: values other than 0/1, or a shape that does not broadcast to `x`.
    """
    try:
        m = torch.as_tensor(mask, device=x.device)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"mask: expected a 0/1 tensor, got {type(mask).__name__}") from None
    try:
        m = torch.broadcast_to(m, x.shape)
    except RuntimeError:
        raise ValueError(
            f"mask: expected a shape broadcastable to x {tuple(x.shape)}, got {tuple(m.shape)}"
        ) from None
    if not bool(((m == 0) | (m == 1)).all()):
        raise ValueError("mask: expected only 0 (fill) and 1 (known), got other values")
    return m == 1


__all__ = ["inpaint"]

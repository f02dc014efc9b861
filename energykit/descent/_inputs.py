"""Checks of what a `Descender` is given: settings at construction, starting points at `run`."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal, cast

import torch
from torch import Tensor

from energykit._checks import check_cond_batch, check_finite_tensor, check_floating
from energykit.fields.base import EnergyField
from energykit.fields.precision import input_parameters

#: What a `Descender` does when the field returns NaN/inf for a sample (see `Descender`).
NonFinite = Literal["raise", "freeze"]
NONFINITE_MODES: tuple[str, ...] = ("raise", "freeze")


def check_nonfinite(value: object) -> NonFinite:
    """Require one of `NONFINITE_MODES`."""
    if not isinstance(value, str) or value not in NONFINITE_MODES:
        raise ValueError(f"nonfinite: expected one of {list(NONFINITE_MODES)}, got {value!r}")
    return cast(NonFinite, value)


def check_flag(name: str, value: object) -> bool:
    """Require a real bool (`1`, `"no"` and `None` are refused)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name}: expected True or False, got {type(value).__name__} {value!r}")
    return value


def check_callback(value: object) -> Callable[..., None] | None:
    """Require a callable or `None`."""
    if value is not None and not callable(value):
        raise TypeError(
            f"callback: expected a callable f(step: DescentStep) or None, "
            f"got {type(value).__name__} {value!r}"
        )
    return cast("Callable[..., None] | None", value)


def check_x0(field: EnergyField, x0: object, cond: dict[str, Any]) -> Tensor:
    """Require floating, finite, non-empty starting points that suit `field` and `cond`.

    Args:
        field: The landscape; its floating-point parameters fix the dtype and device `x0`
            needs (the dtype check is skipped under autocast, which casts on its own, and for
            parameters inside a `LowPrecision` wrapper, which casts `x0` to them).
        x0: Starting points, `(B, *shape)`.
        cond: Conditioning; batched tensors must have `B` rows.

    Raises:
        TypeError: `x0` is not a floating tensor, or its dtype differs from the field's.
        ValueError: `x0` is empty, non-finite, on another device than the field, or `cond`
            has another batch size.
    """
    x = check_floating("x0", x0)
    if x.numel() == 0:  # also an empty batch
        raise ValueError(f"x0: expected at least one sample, got shape {tuple(x.shape)}")
    _check_like_field(field, x)
    # One cheap reduction and one read: a sum is non-finite whenever an entry is; only then
    # (or when a huge sum overflowed) does the exact check run, and name the rows.
    if not math.isfinite(float(x.detach().sum())):
        check_finite_tensor("x0", x)
    check_cond_batch(x, cond)
    return x


def _check_like_field(field: EnergyField, x: Tensor) -> None:
    param = next((p for p in field.parameters() if p.is_floating_point()), None)
    if param is not None and param.device != x.device:
        raise ValueError(
            f"x0: on device {x.device}, but the field's parameters are on {param.device}; "
            f"move x0 with x0.to({str(param.device)!r}) (or the field with field.to(...))"
        )
    want = next(input_parameters(field), None)
    if want is None:
        return
    if want.dtype != x.dtype and not torch.is_autocast_enabled(x.device.type):
        raise TypeError(
            f"x0: dtype {x.dtype} does not match the field's parameters ({want.dtype}); "
            f"cast x0 with x0.to({want.dtype}) (or the field with field.to({x.dtype})"
            ", or run its networks in another precision with fields.LowPrecision)"
        )

"""Classifier-free guidance of a flow-matching velocity (the SiT baseline's sampler)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from energykit._checks import (
    check_class_index,
    check_int,
    check_labels,
    check_real,
    net_label_rows,
)


def guided_velocity(
    velocity: Callable[..., Tensor],
    scale: float,
    null_label: int,
    *,
    channels: Sequence[int] | None = None,
    key: str = "y",
) -> Callable[..., Tensor]:
    """$v_w = v_u + w (v_c - v_u)$ from one doubled batch: rows with the class, then rows with
    `null_label`. With `channels`, only those channels (dim 1) are guided and the others keep
    $v_c$ (as `energykit.fields.Guided` does for fields).

    Returns:
        A callable with `velocity`'s signature, `(x, *args, y=...) -> Tensor`.

    Raises:
        TypeError: `velocity` is not callable, or the labels are not integers (at call).
        ValueError: `null_label` or a label outside the net's label table (when the net
            says its size, as energykit's nets do), or bad `channels`.
    """
    if not callable(velocity):
        raise TypeError(f"guided_velocity velocity: expected a callable, got {type(velocity)}")
    scale = check_real("guided_velocity scale", scale)
    rows = net_label_rows(velocity)
    null_label = check_class_index("guided_velocity null_label", null_label, rows)
    idx = None if channels is None else [check_int("channels", c, minimum=0) for c in channels]

    def v(x: Tensor, *args: Any, **cond: Any) -> Tensor:
        if key not in cond:
            raise TypeError(f"guided_velocity: expected the class as keyword {key!r}")
        y = check_labels(f"guided_velocity {key}", cond.pop(key), rows)
        y = y.to(x.device).expand(x.shape[0])
        y2 = torch.cat([y, torch.full_like(y, null_label)])
        args2 = [torch.cat([a, a]) if isinstance(a, Tensor) and a.ndim > 0 else a for a in args]
        v_c, v_u = velocity(torch.cat([x, x]), *args2, **{key: y2}, **cond).chunk(2)
        guided = v_u + scale * (v_c - v_u)
        if idx is None:
            return guided
        out = v_c.clone()
        out[:, idx] = guided[:, idx]
        return out

    return v


__all__ = ["guided_velocity"]

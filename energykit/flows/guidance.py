"""Classifier-free guidance of a flow-matching velocity (the SiT baseline's sampler)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from energykit._checks import check_int, check_real


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
    """
    scale = check_real("guided_velocity scale", scale)
    null_label = check_int("guided_velocity null_label", null_label, minimum=0)
    idx = None if channels is None else [int(c) for c in channels]

    def v(x: Tensor, *args: Any, **cond: Any) -> Tensor:
        if key not in cond:
            raise TypeError(f"guided_velocity: expected the class as keyword {key!r}")
        y = torch.as_tensor(cond.pop(key), device=x.device).expand(x.shape[0])
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

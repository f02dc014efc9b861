"""Input validation and broadcasting helpers shared by every energykit package.

Errors name the argument, what was expected and what came, so a user can fix the call
without reading the library.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor


def check_floating(name: str, x: object) -> Tensor:
    """Require a floating-point tensor with a batch dimension.

    Raises:
        TypeError: `x` is not a tensor or not floating point.
        ValueError: `x` has no batch dimension.
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name}: expected a floating-point tensor, got dtype {x.dtype}")
    if x.ndim < 1:
        raise ValueError(f"{name}: expected shape (batch, *shape), got a 0-d tensor")
    return x


def check_finite_tensor(name: str, x: Tensor) -> Tensor:
    """Require every entry of `x` to be finite; name the first bad batch rows otherwise."""
    bad = ~torch.isfinite(x)
    if bool(bad.any()):
        rows = bad.reshape(x.shape[0], -1).any(dim=1).nonzero().flatten().tolist()
        raise ValueError(f"{name}: expected finite values, got NaN/inf in samples {rows[:10]}")
    return x


def check_real(
    name: str, value: object, *, minimum: float | None = None, strict: bool = False
) -> float:
    """Require a finite real number, optionally `>= minimum` (or `> minimum` when strict)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name}: expected a finite number, got {v}")
    if minimum is not None and (v <= minimum if strict else v < minimum):
        relation = ">" if strict else ">="
        raise ValueError(f"{name}: expected a number {relation} {minimum}, got {v}")
    return v


def check_int(name: str, value: object, *, minimum: int) -> int:
    """Require an integer `>= minimum` (bools are rejected)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an int, got {type(value).__name__}")
    if int(value) < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {int(value)}")
    return int(value)


def check_cond_batch(x: Tensor, cond: Mapping[str, Any]) -> None:
    """Require every batched conditioning tensor to share `x`'s batch size.

    0-d tensors and non-tensor values (ints, floats) are broadcast by the nets and pass.
    """
    for key, value in cond.items():
        if isinstance(value, Tensor) and value.ndim > 0 and value.shape[0] != x.shape[0]:
            raise ValueError(
                f"conditioning {key!r}: expected batch size {x.shape[0]} (that of x), "
                f"got shape {tuple(value.shape)}"
            )


def check_gradient(owner: object, x: Tensor, grad: object) -> Tensor:
    """Require a field's gradient to be a tensor shaped like its input."""
    if not isinstance(grad, Tensor):
        raise TypeError(
            f"{type(owner).__name__}.gradient: expected a Tensor, got {type(grad).__name__}"
        )
    if grad.shape != x.shape:
        raise ValueError(
            f"{type(owner).__name__}.gradient: expected shape {tuple(x.shape)} (that of x), "
            f"got {tuple(grad.shape)}"
        )
    return grad


def batch_view(v: Tensor, like: Tensor) -> Tensor:
    """Reshape a per-sample tensor `(B,)` to `(B, 1, ..., 1)` so it broadcasts against `like`."""
    return v.reshape(v.shape[0], *([1] * (like.ndim - 1)))


def batch_sum(x: Tensor) -> Tensor:
    """Sum over every non-batch dimension: `(B, *shape) -> (B,)`."""
    return x.reshape(x.shape[0], -1).sum(dim=1)


def batch_norm(x: Tensor) -> Tensor:
    """Euclidean norm over every non-batch dimension: `(B, *shape) -> (B,)`."""
    return torch.linalg.vector_norm(x.reshape(x.shape[0], -1), dim=1)


def select_rows(cond: Mapping[str, Any], index: Tensor, batch: int) -> dict[str, Any]:
    """Index every conditioning tensor whose leading dimension is the batch."""
    return {
        k: v[index] if isinstance(v, Tensor) and v.ndim > 0 and v.shape[0] == batch else v
        for k, v in cond.items()
    }


def check_shape(name: str, t: object, shape: tuple[int, ...] | torch.Size) -> Tensor:
    """Require a tensor of exactly `shape`."""
    if not isinstance(t, Tensor) or t.shape != tuple(shape):
        got = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
        raise ValueError(f"{name}: expected shape {tuple(shape)}, got {got}")
    return t

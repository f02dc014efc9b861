"""Shared input handling for two-sample metrics."""

from __future__ import annotations

import torch
from torch import Tensor


def check_samples(name: str, arg: str, x: object, minimum: int = 1) -> Tensor:
    """Require a tensor of at least `minimum` finite samples `(n, *shape)`, `n >= minimum`.

    Raises:
        TypeError: `x` is not a tensor.
        ValueError: too few samples, or NaN/inf values.
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} {arg}: expected a torch.Tensor, got {type(x).__name__}")
    if x.ndim < 2:
        raise ValueError(f"{name} {arg}: expected samples (n, *shape), got {tuple(x.shape)}")
    if x.shape[0] < minimum:
        raise ValueError(f"{name} {arg}: expected at least {minimum} samples, got {x.shape[0]}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} {arg}: expected finite values, got NaN/inf")
    return x


def flat_pair(name: str, x: Tensor, y: Tensor, minimum: int = 2) -> tuple[Tensor, Tensor]:
    """Flatten `(n, *shape)` and `(m, *shape)` to float64 `(n, d)` and `(m, d)`."""
    check_samples(name, "x", x, minimum)
    check_samples(name, "y", y, minimum)
    if x.shape[1:] != y.shape[1:]:
        raise ValueError(
            f"{name} x, y: expected samples (n, *shape) and (m, *shape) with equal shapes, "
            f"got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    return x.reshape(x.shape[0], -1).double(), y.reshape(y.shape[0], -1).double()

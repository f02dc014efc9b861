"""Shared input handling for two-sample metrics."""

from __future__ import annotations

from torch import Tensor


def flat_pair(name: str, x: Tensor, y: Tensor, minimum: int = 2) -> tuple[Tensor, Tensor]:
    """Flatten `(n, *shape)` and `(m, *shape)` to float64 `(n, d)` and `(m, d)`."""
    if x.ndim < 2 or y.ndim < 2 or x.shape[1:] != y.shape[1:]:
        raise ValueError(
            f"{name}: expected samples (n, *shape) and (m, *shape) with equal shapes, "
            f"got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    if x.shape[0] < minimum or y.shape[0] < minimum:
        raise ValueError(
            f"{name}: expected at least {minimum} samples on each side, "
            f"got {x.shape[0]} and {y.shape[0]}"
        )
    return x.reshape(x.shape[0], -1).double(), y.reshape(y.shape[0], -1).double()

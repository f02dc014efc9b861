"""The one non-finite check of a descent: one host sync, an error naming the step and rows."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

#: What turned non-finite: the field's gradient, or the samples after an update.
Culprit = Literal["gradient", "samples"]


def finite_rows(x: Tensor) -> Tensor:
    """Whether every entry of each row is finite: `(B, *shape) -> (B,)` bool."""
    return torch.isfinite(x.reshape(x.shape[0], -1)).all(dim=1)


def check_finite(
    what: Culprit,
    k: int,
    values: Tensor,
    *,
    among: Tensor | None = None,
    index: Tensor | None = None,
    blame: Tensor | None = None,
) -> None:
    """Raise `FloatingPointError` if a row of `values` is NaN/inf (one host sync when not).

    Args:
        what: What `values` holds, for the message.
        k: The step, for the message.
        values: Samples, gradients or gradient norms, `(n, ...)`.
        among: Only these rows count, `(n,)` bool; default all.
        index: The batch row of each row of `values`, `(n,)`; default `arange(n)`.
        blame: The gradient that produced `values`, `(n, ...)`: when it holds a non-finite
            row, the error names the gradient and its rows (a NaN gradient reaches the
            samples through any optimiser's update, so checking the samples covers both).

    Raises:
        FloatingPointError: naming the culprit, the step and up to ten batch rows.
    """
    if among is None:
        if bool(torch.isfinite(values).all()):
            return
        bad = ~finite_rows(values)
    else:
        bad = among & ~finite_rows(values)
        if not bool(bad.any()):
            return
    if blame is not None and not bool(torch.isfinite(blame).all()):
        what, bad = "gradient", ~finite_rows(blame)
    rows = (bad.nonzero().flatten() if index is None else index[bad]).tolist()[:10]
    if what == "gradient":
        raise FloatingPointError(f"descent: non-finite gradient at step {k} in samples {rows}")
    raise FloatingPointError(f"descent: samples became non-finite at step {k}: {rows}")

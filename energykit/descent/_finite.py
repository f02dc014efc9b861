"""Non-finite values of a descent, tracked on the device and read back every few steps.

No step reads a value back to the host: what turned NaN/inf, where and when, is recorded on
the device and checked at a read-back (every `check_every` steps and at the end), where one
read answers "all finite?" and, only on failure, the error names the first bad step, the
culprit (the field's gradient, or the samples after an update) and the rows, exactly as a
per-step check would.

The fixed budget records, per step, the row-wise minimum and maximum of the samples and of the
gradient (`torch.aminmax`, one kernel each, written into a window of `check_every` slots): a row
is finite iff both are (NaN propagates through both; $+\\infty$ shows in the maximum, $-\\infty$
in the minimum), and unlike a row sum they cannot overflow.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

#: What turned non-finite: the field's gradient, or the samples after an update.
Culprit = Literal["gradient", "samples"]

#: Rows named in an error message at most.
SHOWN_ROWS = 10


def finite_rows(x: Tensor) -> Tensor:
    """Whether every entry of each row is finite: `(B, *shape) -> (B,)` bool."""
    return torch.isfinite(x.reshape(x.shape[0], -1)).all(dim=1)


#: One step's slot of a window: row minima and maxima of the samples, then of the gradient,
#: four `(B,)` views.
Slot = tuple[Tensor, ...]


def new_window(
    steps: int, batch: int, dtype: torch.dtype, device: torch.device
) -> tuple[Tensor, list[Slot]]:
    """A record of `steps` steps, `(steps, 4, batch)`, and its per-step slots (views made
    once, so a step indexes nothing; by one `unbind`, as views cost a call each)."""
    window = torch.zeros(steps, 4, batch, dtype=dtype, device=device)
    rows = window.view(4 * steps, batch).unbind(0)
    return window, [rows[i : i + 4] for i in range(0, 4 * steps, 4)]


def record(slot: Slot, x_rows: Tensor, grad: Tensor) -> None:
    """Write a step's row extrema of the samples `(B, D)` and gradient `(B, *shape)` into
    `slot` (two kernels, no host read)."""
    torch.aminmax(x_rows, dim=1, out=(slot[0], slot[1]))
    g = grad.detach() if grad.requires_grad else grad
    g = g if g.ndim == 2 else g.reshape(g.shape[0], -1)
    torch.aminmax(g, dim=1, out=(slot[2], slot[3]))


def check_window(window: Tensor, used: int, first_step: int) -> None:
    """Raise if any of the first `used` slots (steps `first_step`, ...) holds a non-finite row:
    one reduction and one host read when all are finite.

    Raises:
        FloatingPointError: naming the first bad step, the culprit and up to ten rows. At that
            step a non-finite gradient is blamed (with its rows) before the samples: a NaN
            gradient reaches the samples through any optimiser's update.
    """
    seen = window if used == window.shape[0] else window[:used]
    # The one read: a sum is non-finite whenever an entry is (NaN spreads, inf stays or meets
    # -inf in a NaN), and it costs one cheap kernel; a sum that merely overflowed falls
    # through to the exact check below, which finds every entry finite.
    if math.isfinite(float(seen.sum())):
        return
    finite = torch.isfinite(seen)
    if bool(finite.all()):
        return
    samples_ok = finite[:, 0] & finite[:, 1]  # (used, B)
    grad_ok = finite[:, 2] & finite[:, 3]
    bad_step = (~samples_ok).any(dim=1) | (~grad_ok).any(dim=1)
    j = int(bad_step.nonzero()[0, 0])
    if not bool(grad_ok[j].all()):
        raise_nonfinite("gradient", first_step + j, ~grad_ok[j])
    raise_nonfinite("samples", first_step + j, ~samples_ok[j])


def check_rows(bad_at: Tensor, bad_grad: Tensor) -> None:
    """Raise for rows recorded bad on the device: `bad_at` `(B,)` is the step at which each row
    turned non-finite (-1: never), `bad_grad` `(B,)` whether its gradient was the culprit.

    Raises:
        FloatingPointError: naming the earliest such step, its culprit and rows (the gradient
            rows when a gradient turned non-finite at that step, as a per-step check would).
    """
    bad = bad_at >= 0
    k = int(torch.where(bad, bad_at, bad_at.max()).min())
    at_k = bad & (bad_at == k)
    if bool((at_k & bad_grad).any()):
        raise_nonfinite("gradient", k, at_k & bad_grad)
    raise_nonfinite("samples", k, at_k)


def raise_nonfinite(what: Culprit, k: int, bad: Tensor) -> None:
    """Raise `FloatingPointError` for the rows `bad` `(B,)` bool at step `k`."""
    rows = bad.nonzero().flatten().tolist()[:SHOWN_ROWS]
    if what == "gradient":
        raise FloatingPointError(f"descent: non-finite gradient at step {k} in samples {rows}")
    raise FloatingPointError(f"descent: samples became non-finite at step {k}: {rows}")

"""Short `repr`s of results that hold tensors: shapes, dtype, device and a few numbers,
never the values (printing a result must not dump a batch)."""

from __future__ import annotations

from torch import Tensor


def tensor_text(t: Tensor | None) -> str:
    """`t` as `Tensor(16, 2) float32 cpu` (or `None`)."""
    if t is None:
        return "None"
    dtype = str(t.dtype).removeprefix("torch.")
    return f"Tensor{tuple(t.shape)} {dtype} {t.device}"


def mean_text(t: Tensor) -> str:
    """The mean of `t` (`nan` when empty) with its range, e.g. `mean 12.5 [3, 20]`."""
    if t.numel() == 0:
        return "mean nan"
    v = t.detach().double()
    low, high = (f"{float(x):.4g}" for x in (v.min(), v.max()))
    return f"mean {float(v.mean()):.4g} [{low}, {high}]"


def count_text(flags: Tensor) -> str:
    """How many of the bool `flags` `(B,)` are set, e.g. `3/16`."""
    return f"{int(flags.sum())}/{flags.numel()}"

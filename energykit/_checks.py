"""Input validation and broadcasting helpers shared by every energykit package.

Errors name the argument, what was expected and what came, so a user can fix the call
without reading the library.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
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


def check_batch(name: str, x: object) -> Tensor:
    """`check_floating` plus at least one sample: a floating `(B, *shape)` with `B >= 1`.

    Raises:
        TypeError: `x` is not a tensor or not floating point.
        ValueError: `x` has no batch dimension or an empty batch.
    """
    x = check_floating(name, x)
    if x.shape[0] == 0:
        raise ValueError(
            f"{name}: expected at least one sample, got an empty batch of shape {tuple(x.shape)}"
        )
    return x


#: Set by `checked_data()`: the caller validated its data already (the Trainer's own batches).
_DATA_CHECKED: ContextVar[bool] = ContextVar("energykit_data_checked", default=False)


@contextmanager
def checked_data() -> Iterator[None]:
    """Within this context `check_finite_fast` and the (CPU) range check of `check_labels`
    trust their input (this thread only).

    For callers that validated their data once up front (the Trainer's data sources), so a
    training step reads no value back to the host; user calls of the losses stay checked.
    """
    token = _DATA_CHECKED.set(True)
    try:
        yield
    finally:
        _DATA_CHECKED.reset(token)


def check_finite_fast(name: str, x: Tensor) -> Tensor:
    """Require finite values with one reduction, for tensors on the CPU.

    For hot paths (the losses run every training step): the common case costs one
    `isfinite().all()`; the per-sample message is built only on failure. Skipped while
    `torch.compile` traces, inside `checked_data()`, and for tensors on an accelerator,
    where reading the answer back would stall the device every step; there a non-finite
    input shows as a non-finite loss, which the Trainer's divergence guard catches on the
    device.
    """
    if torch.compiler.is_compiling() or x.device.type != "cpu" or _DATA_CHECKED.get():
        return x
    if not bool(torch.isfinite(x).all()):
        check_finite_tensor(name, x)
    return x


def check_unit_interval(name: str, t: Tensor) -> Tensor:
    """Require a real tensor with values in `[0, 1]` (NaN fails); one reduction."""
    if t.dtype == torch.bool or t.is_complex():
        raise TypeError(f"{name}: expected a real tensor of levels in [0, 1], got dtype {t.dtype}")
    if not bool(((t >= 0) & (t <= 1)).all()):
        bad = t[~((t >= 0) & (t <= 1))].flatten()[:5].tolist()
        raise ValueError(f"{name}: expected values in [0, 1], got {bad}")
    return t


def module_dtype(module: object) -> torch.dtype | None:
    """The dtype of a module's first floating-point parameter, or `None` when it has none."""
    if not isinstance(module, torch.nn.Module):
        return None
    for p in module.parameters():
        if p.is_floating_point():
            return p.dtype
    return None


def check_dtype_like(name: str, x: Tensor, module: object, *, owner: str = "field") -> Tensor:
    """Require `x` in the dtype of `module`'s parameters (no check under autocast, which
    casts on its own, nor for modules without parameters, which accept any dtype).

    Raises:
        TypeError: the dtypes differ; the message names both and how to fix it.
    """
    want = module_dtype(module)
    if want is None or want == x.dtype or torch.is_autocast_enabled(x.device.type):
        return x
    cast = {torch.float32: "float", torch.float64: "double", torch.bfloat16: "bfloat16"}
    fix = cast.get(want)
    back = cast.get(x.dtype)
    hint = f"; cast with {name}.{fix}() or {owner}.{back}()" if fix is not None and back else ""
    raise TypeError(
        f"{name}: expected dtype {want} (the {owner}'s parameters), got {x.dtype}{hint}"
    )


def check_labels(name: str, y: object, rows: int | None = None, *, sync: bool = False) -> Tensor:
    """Require integer class labels (a tensor or an int), in `[0, rows)` when `rows` is known.

    The range check reads the values, so by default it runs only for CPU tensors (no device
    sync) and outside `torch.compile` tracing; on a GPU an out-of-range label then still fails
    in the embedding lookup. `sync=True` checks the range on any device (off the hot path);
    inside `checked_data()` (the Trainer's validated batches) it is skipped on the CPU too.

    Raises:
        TypeError: the labels are not integers (a float label would be truncated silently).
        ValueError: a label lies outside `[0, rows)`.
    """
    if isinstance(y, bool):
        raise TypeError(f"{name}: expected integer class labels, got bool")
    try:
        t = torch.as_tensor(y)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"{name}: expected integer class labels, got {type(y).__name__}") from None
    if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise TypeError(
            f"{name}: expected an integer tensor of class labels, got dtype {t.dtype} "
            "(a float label such as 0.7 would silently become class 0); cast with .long()"
        )
    cheap = sync or (t.device.type == "cpu" and not _DATA_CHECKED.get())
    if rows is None or not cheap or torch.compiler.is_compiling():
        return t
    outside = (t < 0) | (t >= rows)
    if bool(outside.any()):
        bad = t[outside].flatten()[:5].tolist()
        raise ValueError(f"{name}: expected class labels in [0, {rows - 1}], got {bad}")
    return t


def net_label_rows(net: object) -> int | None:
    """Rows of a net's class table when the net says (`label_rows`, as energykit's nets do),
    looking through `torch.compile` and `DistributedDataParallel` wrappers; `None` otherwise."""
    net = getattr(net, "_orig_mod", net)  # torch.compile wrapper
    net = getattr(net, "module", net)  # DistributedDataParallel wrapper
    rows = getattr(net, "label_rows", None)
    return rows if isinstance(rows, int) and not isinstance(rows, bool) else None


def check_class_index(name: str, value: object, rows: int | None) -> int:
    """Require an int `>= 0`, and below `rows` (the net's label table) when that is known.

    Raises:
        TypeError: `value` is not an int.
        ValueError: `value` is negative or not a row of the label table.
    """
    index = check_int(name, value, minimum=0)
    if rows is not None and index >= rows:
        raise ValueError(
            f"{name}: expected a class index in [0, {rows - 1}] (the net's label table has "
            f"{rows} rows), got {index}"
        )
    return index


def check_per_sample(name: str, t: object, batch: int) -> Tensor:
    """Require a real tensor that is 0-d or `(batch,)` (one value per sample); returns it
    expanded to `(batch,)`. O(1).

    Raises:
        TypeError: `t` is not a real tensor.
        ValueError: `t` has another shape, e.g. `(B, 1)`, which would broadcast silently.
    """
    if not isinstance(t, Tensor) or t.dtype == torch.bool or t.is_complex():
        got = f"dtype {t.dtype}" if isinstance(t, Tensor) else type(t).__name__
        raise TypeError(f"{name}: expected a real tensor of shape ({batch},), got {got}")
    if t.ndim == 0:
        return t.expand(batch)
    if t.shape != (batch,):
        raise ValueError(f"{name}: expected shape ({batch},) or (), got {tuple(t.shape)}")
    return t

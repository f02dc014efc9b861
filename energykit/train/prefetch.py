"""Draw the next training batch on a background thread while the current step runs.

The `Trainer` draws every micro-batch as `source.batch(size, generator)` from one CPU
generator. `BatchPrefetcher` makes exactly the same calls in the same order, one call ahead,
on a single worker thread: draw $k + 1$ runs while step $k$ computes, so the batches, and
the generator's state after each of them, are those of a run without prefetch.

Exact resume: a checkpoint must hold the generator state *before* the draw that is still
pending (that batch was drawn but not trained on). `generator_state()` returns it, and
`discard()` (before a checkpoint is loaded) waits for the pending draw and drops it, so the
restored state is the one used for the next draw.

On CUDA the worker also pins the batch, and `next()` copies it with `non_blocking=True`,
so the host-to-device copy overlaps the GPU's work too.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

import torch
from torch import Tensor

#: A batch as the data sources return it: `(x, y)`, `y` the labels or `None`.
Batch = tuple[Tensor, Tensor | None]


class BatchSource(Protocol):
    """What a `Trainer` draws from (`DataSource` and its subclasses)."""

    def batch(self, size: int, generator: torch.Generator) -> Batch: ...


class BatchPrefetcher:
    """`source.batch(size, generator)` on the training device, drawn one call ahead.

    Args:
        source: The data source; its `batch` must draw its randomness from `generator`
            only (true of every built-in source), since it runs on another thread.
        size: Micro-batch size.
        generator: The CPU data generator.
        device: The training device (batches are returned there).
        enabled: Draw ahead on a worker thread; `False` draws in `next()` itself.
    """

    def __init__(
        self,
        source: BatchSource,
        size: int,
        generator: torch.Generator,
        device: torch.device,
        enabled: bool,
    ) -> None:
        self.source, self.size, self.generator, self.device = source, size, generator, device
        self.enabled = enabled
        self._pin = device.type == "cuda"
        self._pool = (
            ThreadPoolExecutor(1, thread_name_prefix="energykit-prefetch") if enabled else None
        )
        self._pending: Future[Batch] | None = None
        self._state_before: Tensor | None = None

    def _draw(self) -> Batch:
        x, y = self.source.batch(self.size, self.generator)
        return _pinned(x, self._pin), None if y is None else _pinned(y, self._pin)

    def next(self) -> Batch:
        """The next batch `(x, y)` on the device; then the one after it is started."""
        if self._pending is None:
            x, y = self._draw()
        else:
            x, y = self._pending.result()
            self._pending = None
        if self._pool is not None:
            self._state_before = self.generator.get_state()
            self._pending = self._pool.submit(self._draw)
        return _to(x, self.device), None if y is None else _to(y, self.device)

    def generator_state(self) -> Tensor:
        """The data generator's state as a run without prefetch would have it now (before
        the pending draw, if one is in flight)."""
        if self._pending is not None and self._state_before is not None:
            return self._state_before.clone()
        return self.generator.get_state()

    def discard(self) -> None:
        """Wait for a pending draw and drop it (before the generator state is replaced)."""
        if self._pending is not None:
            self._pending.exception()  # waits; a failed draw is dropped with it
            self._pending = None
            if self._state_before is not None:
                self.generator.set_state(self._state_before)
        self._state_before = None


def _pinned(t: Tensor, pin: bool) -> Tensor:
    """`t` in pinned host memory when copying to CUDA; data already on a device (a user's
    CUDA tensor) or copied to the CPU is left as it is (only dense CPU tensors can be pinned)."""
    return t.pin_memory() if pin and t.device.type == "cpu" else t


def _to(t: Tensor, device: torch.device) -> Tensor:
    """`t` on `device`; the copy is asynchronous only from pinned memory (safe then)."""
    return t.to(device, non_blocking=t.is_pinned())

"""Batches read item by item, in the training process or by `DataLoader` workers, with the
same result either way.

The rule: everything random about a batch is drawn from the trainer's CPU data generator,
in the training process, before any item is read. A micro-batch of `size` draws

$$i = \\text{pool}[\\text{randint}(|\\text{pool}|, (\\text{size},))], \\quad
  k = \\text{randint}(2^{62}, (\\text{size},))$$

in that order (the keys $k$ only for keyed datasets, `energykit.data.KeyedImages`, whose
item `(i, k)` does its own random choices, e.g. a flip, from a generator seeded with $k$).
The data generator is seeded with `(train.seed, rank)` and checkpointed, so the batch of
step $s$ is a function of `(seed, rank, s)`, and of the position in the batch, only.

With workers, a `DataLoader` is driven by `BatchPlan`, a batch sampler that replays the
same draws ahead of time on a copy of the generator. `Loader.batch` makes the draws on the
real generator too (so its state after each batch is that of an in-process run) and takes
the `DataLoader`'s next batch when the generator is where the plan expects it; anything else
(the first batch, a resume that restored another state, another size) restarts the plan
from the generator's current state. Workers thus change who reads, never what is read.

An exception raised in a worker (by the dataset or `collate`) is carried back as data and
re-raised in the training process as itself, the same type and message (`torch` would
re-raise a copy whose message is the worker's whole traceback), so a bad file reads as the
one line it says; the worker's traceback is its cause (`WorkerError`, which `--debug`
prints).
"""

from __future__ import annotations

import pickle
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

#: Keys are drawn in $[0, 2^{62})$ (a valid `manual_seed`).
KEY_RANGE = 2**62
#: Batches each worker reads ahead (`DataLoader.prefetch_factor`).
PREFETCH_FACTOR = 2

B = TypeVar("B")


def draw_items(
    generator: torch.Generator, size: int, pool: Tensor | int, *, keyed: bool
) -> list[Any]:
    """The items of one batch: `size` indices drawn with replacement from `pool` (a tensor
    of allowed indices, or `n` for `range(n)`), each paired with a key when `keyed`.

    Returns:
        `[i, ...]`, or `[(i, k), ...]` when `keyed`.
    """
    n = pool if isinstance(pool, int) else len(pool)
    pick = torch.randint(n, (size,), generator=generator)
    index = (pick if isinstance(pool, int) else pool[pick]).tolist()
    if not keyed:
        return index
    keys = torch.randint(KEY_RANGE, (size,), generator=generator).tolist()
    return list(zip(index, keys, strict=True))


class WorkerError(Exception):
    """The traceback of an exception raised in a `DataLoader` worker (the `__cause__` of the
    exception `reraise` raises, so that `--debug` prints it)."""


@dataclass(frozen=True)
class CarriedError:
    """An exception raised in a `DataLoader` worker, returned in place of its batch.

    Attributes:
        error: The exception, which survives pickling (the way back to the training process).
        trace: The worker's traceback, formatted.
    """

    error: BaseException
    trace: str

    @classmethod
    def of(cls, err: Exception) -> CarriedError:
        """`err` and its traceback; a `RuntimeError` with its type and message in its place
        if `err` does not survive pickling."""
        trace = "".join(traceback.format_exception(type(err), err, err.__traceback__))
        try:
            pickle.loads(pickle.dumps(err))
        except Exception:
            return cls(RuntimeError(f"{type(err).__name__}: {err}"), trace)
        return cls(err, trace)


class _Carrying(Dataset[Any]):
    """`dataset` whose items are `CarriedError`s where reading them raises."""

    def __init__(self, dataset: Dataset[Any]) -> None:
        self.dataset = dataset

    def __getitem__(self, item: Any) -> Any:
        try:
            return self.dataset[item]
        except Exception as err:
            return CarriedError.of(err)


class _CarryingCollate:
    """`collate`, returning the first `CarriedError` of the items, or the one it raises."""

    def __init__(self, collate: Callable[[list[Any]], Any]) -> None:
        self.collate = collate

    def __call__(self, items: list[Any]) -> Any:
        failed = [item for item in items if isinstance(item, CarriedError)]
        if failed:
            return failed[0]
        try:
            return self.collate(items)
        except Exception as err:
            return CarriedError.of(err)


def carrying_loader(
    dataset: Dataset[Any], collate: Callable[[list[Any]], Any], **kwargs: Any
) -> DataLoader[Any]:
    """A `DataLoader` (`kwargs`) over `dataset` and `collate` whose batches are
    `CarriedError`s where reading raised: pass each to `reraise`."""
    return DataLoader(_Carrying(dataset), collate_fn=_CarryingCollate(collate), **kwargs)


def reraise(batch: B | CarriedError) -> B:
    """`batch`, or the exception a worker carried in its place, raised."""
    if isinstance(batch, CarriedError):
        raise batch.error from WorkerError(batch.trace.rstrip())
    return batch


class BatchPlan:
    """A batch sampler replaying `draw_items` from a copy of the data generator's `state`:
    the items of every batch from that state on, without end."""

    def __init__(self, state: Tensor, size: int, pool: Tensor | int, *, keyed: bool) -> None:
        self.state, self.size, self.pool, self.keyed = state.clone(), size, pool, keyed

    def __iter__(self) -> Iterator[list[Any]]:
        generator = torch.Generator()
        generator.set_state(self.state)
        while True:
            yield draw_items(generator, self.size, self.pool, keyed=self.keyed)


class Loader(Generic[B]):
    """`collate([dataset[item] for item in draw_items(...)])`, read by `workers` processes.

    Args:
        dataset: A map-style dataset, indexed by the drawn items.
        pool: The indices drawn from (a tensor, or `n` for `range(n)`).
        collate: Turns the list of items into a batch (a module-level function, so that a
            worker started by `spawn` can receive it).
        workers: `DataLoader` worker processes; 0 reads in the calling process.
        keyed: Pair each index with a key (`energykit.data.KeyedImages`).
    """

    def __init__(
        self,
        dataset: Dataset[Any],
        pool: Tensor | int,
        collate: Callable[[list[Any]], B],
        *,
        workers: int,
        keyed: bool,
    ) -> None:
        self.dataset, self.pool, self.collate = dataset, pool, collate
        self.workers, self.keyed = workers, keyed
        self._batches: Iterator[B] | None = None
        self._size = 0
        self._expected: Tensor | None = None

    def batch(self, size: int, generator: torch.Generator) -> tuple[list[Any], B]:
        """The next batch's items and the batch, advancing `generator` by its draws."""
        if self.workers == 0:
            items = draw_items(generator, size, self.pool, keyed=self.keyed)
            return items, self.collate([self.dataset[item] for item in items])
        state, expected, batches = generator.get_state(), self._expected, self._batches
        planned = expected is not None and size == self._size and torch.equal(state, expected)
        if batches is None or not planned:
            batches = self._restart(state, size)
        out = next(batches)
        items = draw_items(generator, size, self.pool, keyed=self.keyed)
        self._expected = generator.get_state()
        if isinstance(out, CarriedError):
            self.close()  # the plan is a batch ahead of a retry
        return items, reraise(out)

    def _restart(self, state: Tensor, size: int) -> Iterator[B]:
        """A new plan, and workers, from the generator's `state`."""
        self.close()
        loader = carrying_loader(
            self.dataset,
            self.collate,
            batch_sampler=BatchPlan(state, size, self.pool, keyed=self.keyed),
            num_workers=self.workers,
            prefetch_factor=PREFETCH_FACTOR,
            # Worker base seeds from a private generator: torch's global RNG is left alone.
            generator=torch.Generator().manual_seed(0),
        )
        self._batches, self._size = iter(loader), size
        return self._batches

    def close(self) -> None:
        """Drop the plan; the `DataLoader` iterator's finaliser stops its workers (a later
        `batch` starts new ones)."""
        self._batches, self._expected = None, None


__all__ = [
    "KEY_RANGE",
    "BatchPlan",
    "CarriedError",
    "Loader",
    "WorkerError",
    "carrying_loader",
    "draw_items",
    "reraise",
]

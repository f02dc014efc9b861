"""Image datasets whose random choices are keyed: item `(index, key)` flips (or not) by a
generator seeded with `key`, never by a process's global RNG.

So the same `(index, key)` gives the same tensor in the training process and in any
`DataLoader` worker, whatever the number of workers: who decodes an image never changes what
comes out. `key=None` reads the image as stored (evaluation references).

Pixels are scaled as the bundled image datasets scale them (`energykit.data.images`):
$x = 2 \\cdot p / 255 - 1$ in float32, so `0 -> -1` and `255 -> 1`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

#: The peak value of 8-bit pixels.
PIXEL_PEAK = 255.0

#: An item of a keyed dataset: a sample index and the key of its random choices (or `None`).
KeyedIndex = tuple[int, int | None]


def to_unit_range(pixels: np.ndarray) -> Tensor:
    """8-bit pixels `(C, H, W)` as float32 in $[-1, 1]$: $2 p / 255 - 1$ (the digits/MNIST
    convention, the same float32 operations, so equal pixels give equal tensors)."""
    own = np.array(pixels, dtype=np.uint8)  # a writable copy (decoded arrays are read-only)
    return torch.from_numpy(own).float() / PIXEL_PEAK * 2.0 - 1.0


def keyed_flip(key: int | None) -> bool:
    """Whether the item of `key` is mirrored: one fair coin from a generator seeded with
    `key` (`False` for `key=None`)."""
    if key is None:
        return False
    coin = torch.randint(2, (), generator=torch.Generator().manual_seed(key))
    return bool(coin == 1)


class KeyedImages(Dataset[tuple[Tensor, int | None]], ABC):
    """8-bit images with optional labels, read as `(x, y)` for an item `(index, key)`.

    Subclasses give `__len__`, `pixels(index)` and `label(index)`; this class scales the
    pixels to $[-1, 1]$ and mirrors them (width axis) when `flip` and `keyed_flip(key)`.

    Attributes:
        shape: Shape of one sample `(C, H, W)`.
        classes: Class names (label `k` is `classes[k]`), or `None` without labels.
        flip: Mirror horizontally with probability 1/2, keyed.
    """

    shape: tuple[int, int, int]
    classes: tuple[str, ...] | None
    flip: bool

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def pixels(self, index: int) -> np.ndarray:
        """Image `index` as stored (no flip), `(C, H, W)` uint8."""

    @abstractmethod
    def label(self, index: int) -> int | None:
        """The class of image `index`, or `None` without labels."""

    @property
    def num_classes(self) -> int | None:
        """Number of classes, or `None` without labels."""
        return None if self.classes is None else len(self.classes)

    def __getitem__(self, item: KeyedIndex) -> tuple[Tensor, int | None]:
        """`(x, y)`: `x` `(C, H, W)` float32 in $[-1, 1]$, `y` the label or `None`."""
        index, key = item
        x = to_unit_range(self.pixels(index))
        if self.flip and keyed_flip(key):
            x = x.flip(-1)
        return x, self.label(index)


def stack_items(items: list[tuple[Tensor, int | None]]) -> tuple[Tensor, Tensor | None]:
    """Items `(x, y)` as a batch: `x` `(B, C, H, W)` and labels `(B,)` int64 (or `None`)."""
    x = torch.stack([x for x, _ in items])
    labels = [y for _, y in items]
    if any(y is None for y in labels):
        return x, None
    return x, torch.tensor(labels, dtype=torch.int64)


__all__ = [
    "PIXEL_PEAK",
    "KeyedImages",
    "KeyedIndex",
    "keyed_flip",
    "stack_items",
    "to_unit_range",
]

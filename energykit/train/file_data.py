"""Image files as training data (`data.name: folder` or `cifar10`): `FileData`, a
`DataSource` whose batches are decoded item by item, by `data.workers` `DataLoader`
processes, each item's index and flip drawn from the data generator
(`energykit.train.loader`), so resume is exact with any number of workers.

The evaluation reference `x_test` is at most `HELDOUT_IMAGES` held-out images (a seeded
subset), decoded once, unflipped; the training images stay on disk (`x_train` is `None`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader

from energykit.data import KeyedImages, open_local, stack_items
from energykit.train.config import DataConfig
from energykit.train.data import DataSource
from energykit.train.loader import Loader

#: Held-out images decoded as the evaluation reference (`DataSource.x_test`).
HELDOUT_IMAGES = 2000
#: Images per read while decoding the reference.
_READ_BATCH = 256


class FileData(DataSource):
    """Images at `data.path` (a folder, or CIFAR-10's binary release) as training batches.

    Args:
        cfg: The `data` section: `name`, `path`, `size`, `flip`, `test_fraction`,
            `split_seed`, `workers`, `class_conditional`.

    Raises:
        ValueError: labels are asked for (`data.class_conditional`) from a flat folder, or
            what `energykit.data.open_local` raises.
    """

    def __init__(self, cfg: DataConfig) -> None:
        if cfg.path is None:
            raise ValueError(f"data.path: data.name={cfg.name!r} needs the local data, got None")
        split = open_local(
            cfg.name,
            cfg.path,
            size=cfg.size,
            flip=cfg.flip,
            test_fraction=cfg.test_fraction,
            split_seed=cfg.split_seed,
        )
        images = split.train
        if cfg.class_conditional and images.num_classes is None:
            raise ValueError(
                f"data.class_conditional: the folder {cfg.path!r} has no class subfolders, so "
                "no labels; put each class in a subfolder or set data.class_conditional=false"
            )
        shown = split.test_index[:HELDOUT_IMAGES]
        x_test, y_test = read_images(split.test, shown.tolist(), cfg.workers)
        super().__init__(cfg.name, images.shape, x_test, y_test, images.num_classes)
        self.images = images
        self.loader: Loader[tuple[Tensor, Tensor | None]] = Loader(
            images, split.train_index, stack_items, workers=cfg.workers, keyed=True
        )

    def batch(self, size: int, generator: torch.Generator) -> tuple[Tensor, Tensor | None]:
        """Images `(size, C, H, W)` in $[-1, 1]$ (and labels `(size,)`), decoded from the
        items the data generator draws."""
        _, (x, y) = self.loader.batch(size, generator)
        return x, y


def read_images(
    images: KeyedImages, index: list[int], workers: int
) -> tuple[Tensor, Tensor | None]:
    """Images `index` of `images`, unflipped, `(len(index), C, H, W)` (and labels), read by
    `workers` processes."""
    items: list[Any] = [(i, None) for i in index]
    loader: DataLoader[Any] = DataLoader(
        images,
        batch_size=_READ_BATCH,
        sampler=items,
        num_workers=workers,
        collate_fn=stack_items,
        generator=torch.Generator().manual_seed(0),  # torch's global RNG is left alone
    )
    parts = list(loader)
    x = torch.cat([x for x, _ in parts])
    labels = [y for _, y in parts]
    return x, None if any(y is None for y in labels) else torch.cat(labels)


__all__ = ["HELDOUT_IMAGES", "FileData", "read_images"]

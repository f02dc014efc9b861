"""The built-in data a `Trainer` draws from: `DataSource` (images and labels in memory, or a
toy distribution drawn fresh), cached VAE latents (`LatentData`), image files
(`data.name: folder` or `cifar10`) decoded item by item by `data.workers` `DataLoader`
processes (`FileData`), and `build_data`, which loads the dataset a config's `data` section
names.

`FileData` draws each item's index and flip from the data generator
(`energykit.train.loader`), so resume is exact with any number of workers. Its evaluation
reference `x_test` is at most `HELDOUT_IMAGES` held-out images (a seeded subset), decoded once,
unflipped; the training images stay on disk (`x_train` is `None`). Data of the user's own is
adapted in `energykit.train.own_data`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from energykit.data import (
    LATENTS,
    KeyedImages,
    dataset_info,
    load_images,
    open_local,
    sample_toy,
    stack_items,
)
from energykit.train.config import DataConfig
from energykit.train.loader import Loader, carrying_loader, reraise

#: Number of held-out points drawn for 2-D toy evaluation.
TOY_TEST_SIZE = 2000


@dataclass
class DataSource:
    """Training batches and a fixed held-out set for one dataset.

    Attributes:
        name: Dataset name.
        shape: Shape of one sample, e.g. `(2,)` or `(1, 8, 8)`.
        x_test: Held-out samples `(N, *shape)` used by evaluation.
        y_test: Held-out labels `(N,)`, or `None` for unlabelled data (toys, a flat folder).
        num_classes: Number of classes, or `None` for unlabelled data.
        x_train: Training images `(N, *shape)`, or `None` for toy data (drawn fresh) and
            data read from files (`FileData`).
        y_train: Training labels, or `None`.
    """

    name: str
    shape: tuple[int, ...]
    x_test: Tensor
    y_test: Tensor | None
    num_classes: int | None
    x_train: Tensor | None = None
    y_train: Tensor | None = None

    def batch(self, size: int, generator: torch.Generator) -> tuple[Tensor, Tensor | None]:
        """A training batch `(size, *shape)` (and labels), drawn with replacement by
        `generator` (a CPU generator, so the draw is the same on every device)."""
        if self.x_train is None:
            return sample_toy(self.name, size, generator=generator), None
        idx = torch.randint(len(self.x_train), (size,), generator=generator)
        return self.x_train[idx], None if self.y_train is None else self.y_train[idx]


class LatentData(DataSource):
    """Cached VAE latents (`energykit latents`) as training batches.

    Each batch draws images uniformly with replacement from the training indices, then a
    fresh posterior sample (and mirrored view, when `data.flip`) for each, all from the data
    generator, so resuming is exact. `x_test` holds scaled posterior means: of the
    `data.holdout` held-out images, or (without a hold-out) of 512 fixed training images, for
    monitoring only.
    """

    def __init__(self, cfg: DataConfig) -> None:
        from energykit.data.latents import LatentStore

        if cfg.path is None:
            raise ValueError("data.path: data.name='latents' needs the latent folder, got None")
        self.store = LatentStore(cfg.path, flip=cfg.flip)
        n = len(self.store)
        if cfg.holdout >= n:
            raise ValueError(f"data.holdout: expected fewer than the {n} images, got {cfg.holdout}")
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(cfg.split_seed))
        self.train_index = perm[cfg.holdout :].sort().values if cfg.holdout else torch.arange(n)
        shown = perm[: cfg.holdout] if cfg.holdout else perm[: min(512, n)]
        shown = shown.sort().values
        super().__init__(
            name=LATENTS,
            shape=tuple(self.store.shape),
            x_test=self.store.mean_latents(shown),
            y_test=self.store.labels[shown],
            num_classes=self.store.num_classes,
        )

    def batch(self, size: int, generator: torch.Generator) -> tuple[Tensor, Tensor | None]:
        """Scaled posterior samples `(size, C, h, w)` and their labels."""
        pick = torch.randint(len(self.train_index), (size,), generator=generator)
        idx = self.train_index[pick]
        return self.store.sample(idx, generator), self.store.labels[idx]


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
    `workers` processes (a worker's exception is re-raised as itself)."""
    items: list[Any] = [(i, None) for i in index]
    loader = carrying_loader(
        images,
        stack_items,
        batch_size=_READ_BATCH,
        sampler=items,
        num_workers=workers,
        generator=torch.Generator().manual_seed(0),  # torch's global RNG is left alone
    )
    parts: list[tuple[Tensor, Tensor | None]] = [reraise(part) for part in loader]
    x = torch.cat([x for x, _ in parts])
    labels = [y for _, y in parts if y is not None]
    return x, torch.cat(labels) if len(labels) == len(parts) else None


def build_data(cfg: DataConfig) -> DataSource:
    """Load (or set up the sampler of) the dataset `cfg.name`."""
    family = dataset_info(cfg.name).family
    if family == "latents":
        return LatentData(cfg)
    if family == "files":
        return FileData(cfg)
    if family == "toy":
        gen = torch.Generator().manual_seed(10_000 + cfg.split_seed)
        test = sample_toy(cfg.name, TOY_TEST_SIZE, generator=gen)
        return DataSource(cfg.name, (2,), test, None, None)
    split = load_images(
        cfg.name, test_fraction=cfg.test_fraction, split_seed=cfg.split_seed, path=cfg.path
    )
    return DataSource(
        cfg.name,
        split.shape,
        split.x_test,
        split.y_test,
        split.num_classes,
        split.x_train,
        split.y_train,
    )

"""Image datasets read from local files at `data.path`, item by item (a `DataLoader` may read
them in worker processes): a folder of PNG/JPEG files and CIFAR-10's binary release.

`open_local` returns the training images and the held-out images, each a keyed dataset with
the indices of its split: for a folder, one seeded permutation (`split_seed`) holds out
`test_fraction` of the files, as `load_images` does for the bundled datasets; CIFAR-10 holds
out its own `test_batch.bin`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from energykit._checks import check_real
from energykit.data.cifar10 import CIFAR10_SIZE, Cifar10
from energykit.data.image_files import FolderImages
from energykit.data.keyed import KeyedImages

#: Names of the datasets read from local files (`data.name`).
FILE_DATASETS = ("folder", "cifar10")


@dataclass(frozen=True)
class LocalSplit:
    """Training and held-out images of a local dataset.

    Attributes:
        train: The training images (flipped by key when asked).
        train_index: Indices of `train` trained on, `(N_train,)` int64.
        test: The held-out images (the same dataset as `train` for a folder).
        test_index: Indices of `test` held out, `(N_test,)` int64, in a seeded order.
    """

    train: KeyedImages
    train_index: Tensor
    test: KeyedImages
    test_index: Tensor


def open_local(
    name: str,
    path: str | Path,
    *,
    size: int | None = None,
    flip: bool = False,
    test_fraction: float = 0.2,
    split_seed: int = 0,
) -> LocalSplit:
    """Open the local dataset `name` at `path`, split into training and held-out images.

    Args:
        name: `folder` or `cifar10`.
        path: The image folder, or the `cifar-10-batches-bin` folder.
        size: Image side: required for `folder`; `None` or 32 for `cifar10`.
        flip: Training images are mirrored with probability 1/2, by key.
        test_fraction: `folder`: the held-out fraction, in `(0, 1)`.
        split_seed: `folder`: seed of the split; both: seed of the held-out order.

    Raises:
        ValueError: an unknown `name`, a wrong `size` or `test_fraction`, a folder of fewer
            than 2 images, or a bad file (see `FolderImages`, `Cifar10`).
        FileNotFoundError: `path` or a file under it is missing.
    """
    order = torch.Generator().manual_seed(split_seed)
    if name == "cifar10":
        if size not in (None, CIFAR10_SIZE):
            raise ValueError(f"data.size: CIFAR-10 images are 32x32 (None or 32), got {size}")
        train, test = Cifar10(path, "train", flip=flip), Cifar10(path, "test")
        return LocalSplit(
            train, torch.arange(len(train)), test, torch.randperm(len(test), generator=order)
        )
    if name != "folder":
        raise ValueError(f"local dataset name: expected one of {FILE_DATASETS}, got {name!r}")
    if size is None:
        raise ValueError("data.size: data.name='folder' needs the image side, got None")
    test_fraction = check_real("test_fraction", test_fraction)
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction: expected a value in (0, 1), got {test_fraction}")
    images = FolderImages(path, size, flip=flip)
    if len(images) < 2:
        raise ValueError(
            f"data.path {str(path)!r}: expected at least 2 images (one to train on, one held "
            f"out), got {len(images)}"
        )
    perm = torch.randperm(len(images), generator=order)
    n_test = min(len(images) - 1, max(1, round(test_fraction * len(images))))
    return LocalSplit(images, perm[n_test:].sort().values, images, perm[:n_test])


__all__ = ["FILE_DATASETS", "LocalSplit", "open_local"]

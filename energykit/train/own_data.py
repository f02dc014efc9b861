"""Data of the user's own as a `DataSource`: a tensor `(N, *shape)`, a torch `Dataset` of `x`
or `(x, y)` items, or a `DataSource` as it is (`Trainer(config, data=...)`).

Batches are drawn as for the built-in datasets: `size` indices with replacement from the
trainer's CPU data generator, then the items at those indices. A tensor or `TensorDataset` is
indexed in one operation; any other `Dataset` is read item by item, by `data.workers`
`DataLoader` processes or (0) in the training process, each item checked (a tensor of the
first item's shape, finite, and a label in range when labels are fed).

There is no held-out split: the first `SHOWN` samples stand in for `x_test` (what the default
in-training evaluation compares samples with).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset, IterableDataset, TensorDataset

from energykit.train.config import DataConfig
from energykit.train.config_checks import CUSTOM
from energykit.train.data import DataSource
from energykit.train.loader import Loader

#: Samples of the user's data kept as the evaluation reference (`DataSource.x_test`).
SHOWN = 256
#: Rows checked for finiteness at a time.
_CHECK_ROWS = 4096


def as_source(data: object, cfg: DataConfig) -> tuple[DataSource, str]:
    """`data` as a `DataSource`, and the description `config.json` records (`data.source`).

    Args:
        data: A floating-point tensor `(N, *shape)`, a `Dataset` whose items are `x` or
            `(x, y)` (`y` an integer class label), or a `DataSource`.
        cfg: The config's `data` section (`class_conditional`, `num_classes`).

    Raises:
        TypeError: `data`, its samples or its labels are of the wrong type.
        ValueError: empty data, a sample dimension missing, non-finite samples, labels out of
            range, or labels needed (`data.class_conditional`) but absent.
    """
    if isinstance(data, DataSource):
        return _checked_source(data, cfg), f"{type(data).__qualname__} {data.name!r}"
    if isinstance(data, Tensor):
        return tensor_source(data, None, cfg), f"Tensor ({len(data)} samples)"
    if isinstance(data, TensorDataset):
        return _tensor_dataset(data, cfg), f"TensorDataset ({len(data)} samples)"
    if isinstance(data, IterableDataset):
        raise TypeError(
            "data: an IterableDataset cannot be indexed (batches are drawn by index, with "
            "replacement, so that a resume is exact); pass a map-style Dataset or a tensor"
        )
    if isinstance(data, Dataset):
        source = DatasetSource(data, cfg)
        return source, f"{type(data).__qualname__} ({source.size} samples)"
    raise TypeError(
        "data: expected a tensor (N, *shape), a torch Dataset of x or (x, y) items, or an "
        f"energykit.train.DataSource, got {type(data).__name__}"
    )


def tensor_source(x: Tensor, y: Tensor | None, cfg: DataConfig) -> DataSource:
    """A `DataSource` over samples `x` `(N, *shape)` and optional labels `y` `(N,)`."""
    _check_samples(x, "data")
    classes = _classes(y, len(x), cfg)
    labels = y if classes is not None else None
    x = x.detach()
    shown = x[:SHOWN].cpu()
    return DataSource(
        CUSTOM,
        tuple(x.shape[1:]),
        shown,
        None if labels is None else labels[:SHOWN].cpu(),
        classes,
        x,
        labels,
    )


def _tensor_dataset(data: TensorDataset, cfg: DataConfig) -> DataSource:
    tensors = data.tensors
    if len(tensors) not in (1, 2):
        raise ValueError(
            f"data: expected a TensorDataset of x or (x, y), got one of {len(tensors)} tensors"
        )
    return tensor_source(tensors[0], tensors[1] if len(tensors) == 2 else None, cfg)


def _check_samples(x: Tensor, what: str) -> None:
    """Floating point, `(N, *shape)` with `N > 0` and at least one sample dimension, finite."""
    if not x.is_floating_point():
        raise TypeError(
            f"{what}: expected floating-point samples, got {x.dtype} (convert them, e.g. "
            "x.float(), and scale images to [-1, 1])"
        )
    if x.ndim < 2:
        raise ValueError(
            f"{what}: expected samples (N, *shape) with at least one sample dimension, got "
            f"shape {tuple(x.shape)} (one scalar per sample: use x[:, None])"
        )
    if len(x) == 0:
        raise ValueError(f"{what}: expected at least one sample, got shape {tuple(x.shape)}")
    # In chunks of rows, so the check of a large tensor allocates little.
    finite = torch.cat(
        [torch.isfinite(c.reshape(len(c), -1)).all(dim=1) for c in x.split(_CHECK_ROWS)]
    )
    if not bool(finite.all()):
        first = int((~finite).nonzero()[0, 0])
        raise ValueError(
            f"{what}: expected finite samples, got {int((~finite).sum())} holding NaN or inf "
            f"(the first at index {first})"
        )


def _classes(y: Tensor | None, n: int, cfg: DataConfig) -> int | None:
    """The class count fed to the net (`None` when labels are not fed), checking `y`."""
    if not cfg.class_conditional:
        return None
    if y is None:
        raise ValueError(
            "data.class_conditional: labels are fed to the net, but the data has none; pass "
            "(x, y) items (e.g. TensorDataset(x, y)) or set data.class_conditional=false"
        )
    if not isinstance(y, Tensor) or y.dtype == torch.bool or y.is_floating_point():
        got = y.dtype if isinstance(y, Tensor) else type(y).__name__
        raise TypeError(f"data labels: expected an integer tensor (N,), got {got}")
    if tuple(y.shape) != (n,):
        raise ValueError(
            f"data labels: expected shape ({n},), one per sample, got {tuple(y.shape)}"
        )
    return check_labels(y, cfg.num_classes, "data labels", infer=True)


def check_labels(y: Tensor, num_classes: int | None, what: str, *, infer: bool = False) -> int:
    """Check labels `y` lie in `[0, num_classes)`; returns `num_classes`, or max + 1 when it is
    `None` and `infer`."""
    low, high = int(y.min()), int(y.max())
    if low < 0:
        raise ValueError(f"{what}: expected class labels >= 0, got {low}")
    if num_classes is None:
        if not infer:
            raise ValueError(f"{what}: data.num_classes is needed to check labels, got None")
        return high + 1
    if high >= num_classes:
        raise ValueError(
            f"{what}: expected labels in [0, data.num_classes={num_classes}), got {high}"
        )
    return num_classes


def _checked_source(data: DataSource, cfg: DataConfig) -> DataSource:
    """A user's `DataSource`, its classes reconciled with the config and one batch drawn (with
    a throwaway generator) to check its shape."""
    if cfg.class_conditional and data.num_classes is None:
        raise ValueError(
            f"data.class_conditional: labels are fed to the net, but the DataSource "
            f"{data.name!r} has num_classes=None"
        )
    if cfg.num_classes is not None and cfg.num_classes != data.num_classes:
        raise ValueError(
            f"data.num_classes: expected the DataSource's own {data.num_classes}, got "
            f"{cfg.num_classes}"
        )
    shape = tuple(data.shape)
    x, _ = data.batch(1, torch.Generator().manual_seed(0))
    if not isinstance(x, Tensor) or tuple(x.shape) != (1, *shape):
        got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(
            f"data: DataSource {data.name!r}.batch(1, ...) returned {got}, expected a tensor "
            f"(1, *shape) = {(1, *shape)}"
        )
    return data


class DatasetSource(DataSource):
    """A map-style `Dataset` of `x` or `(x, y)` items, read item by item, by `data.workers`
    `DataLoader` processes (0: in the training process; the indices are drawn from the data
    generator either way, `energykit.train.loader`, so the batches are the same).

    The sample shape is the first item's; every item drawn is checked against it (in the
    training process). Labels are read only when `data.class_conditional` (then
    `data.num_classes` is required: the labels of a `Dataset` are not scanned to infer it).
    """

    def __init__(self, dataset: Dataset[Any], cfg: DataConfig) -> None:
        try:
            self.size = len(dataset)  # type: ignore[arg-type]
        except TypeError:
            raise TypeError(
                f"data: expected a Dataset with a length, got {type(dataset).__name__} without "
                "__len__"
            ) from None
        if self.size == 0:
            raise ValueError("data: expected at least one sample, got an empty Dataset")
        self.dataset = dataset
        self.conditional = cfg.class_conditional
        if self.conditional and cfg.num_classes is None:
            raise ValueError(
                "data.num_classes: required for a class-conditional Dataset (its labels are not "
                "scanned); set it in the config, or pass a TensorDataset(x, y) to infer it"
            )
        first = self._item(0, dataset[0], None)[0]
        _check_samples(first[None], "data[0]")
        shape = tuple(first.shape)
        shown = list(range(min(self.size, SHOWN)))
        x, y = self._read(shown, [dataset[i] for i in shown], shape, cfg.num_classes)
        super().__init__(CUSTOM, shape, x, y, cfg.num_classes if self.conditional else None)
        self.loader: Loader[list[Any]] = Loader(
            dataset, self.size, _as_list, workers=cfg.workers, keyed=False
        )

    def batch(self, size: int, generator: torch.Generator) -> tuple[Tensor, Tensor | None]:
        """`size` items `(size, *shape)` (and labels) at indices drawn with replacement."""
        indices, raw = self.loader.batch(size, generator)
        return self._read(indices, raw, self.shape, self.num_classes)

    def _read(
        self, indices: list[int], raw: list[Any], shape: tuple[int, ...], classes: int | None
    ) -> tuple[Tensor, Tensor | None]:
        items = [self._item(i, item, shape) for i, item in zip(indices, raw, strict=True)]
        x = torch.stack([x for x, _ in items])
        _check_samples(x, f"data[{indices[0]}..]" if len(indices) > 1 else f"data[{indices[0]}]")
        if not self.conditional:
            return x, None
        y = torch.stack([y for _, y in items if y is not None])
        check_labels(y, classes, f"data labels at {indices[:8]}")
        return x, y

    def _item(
        self, i: int, item: Any, shape: tuple[int, ...] | None
    ) -> tuple[Tensor, Tensor | None]:
        """Item `i` (`dataset[i]`) checked: `x` a tensor of `shape`, and its label."""
        if isinstance(item, (tuple, list)) and len(item) == 2:
            x, y = item
        elif isinstance(item, Tensor):
            x, y = item, None
        else:
            raise TypeError(
                f"data[{i}]: expected a tensor x or a pair (x, y), got {type(item).__name__}"
                + (f" of length {len(item)}" if isinstance(item, (tuple, list)) else "")
            )
        if not isinstance(x, Tensor):
            raise TypeError(f"data[{i}]: expected x to be a tensor, got {type(x).__name__}")
        if shape is not None and tuple(x.shape) != shape:
            raise ValueError(
                f"data[{i}]: expected a sample of shape {shape} (the first item's), got "
                f"{tuple(x.shape)}"
            )
        return x, self._label(i, y) if self.conditional else None

    @staticmethod
    def _label(i: int, y: Any) -> Tensor:
        if y is None:
            raise ValueError(
                f"data[{i}]: labels are fed to the net (data.class_conditional=true), but the "
                "item is x alone; return (x, y) items"
            )
        label = torch.as_tensor(y) if isinstance(y, (int, Tensor)) else None
        if label is None or label.ndim != 0 or label.dtype == torch.bool:
            got = type(y).__name__ if label is None else f"{label.dtype} {tuple(label.shape)}"
            raise TypeError(f"data[{i}]: expected an integer class label, got {got}")
        if label.is_floating_point():
            raise TypeError(f"data[{i}]: expected an integer class label, got {label.dtype}")
        return label.long()


def _as_list(items: list[Any]) -> list[Any]:
    """A `DataLoader` batch of a user's items, as they are (checked in the training process)."""
    return items

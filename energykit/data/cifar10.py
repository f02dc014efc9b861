"""CIFAR-10 from a local copy of its binary release (`cifar-10-batches-bin`), never the
pickled Python release (reading it would unpickle a file).

Each file is a run of 3,073-byte records: one label byte in `[0, 10)`, then 3,072 pixel bytes,
the 1,024 red, 1,024 green and 1,024 blue values of a 32x32 image, each row-major. Training
reads `data_batch_1.bin` ... `data_batch_5.bin` (50,000 images), the held-out split is
`test_batch.bin` (10,000). Files are memory-mapped, opened on first read (so each `DataLoader`
worker maps its own view instead of receiving a copy).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from energykit.data.keyed import KeyedImages

#: The class names, in label order.
CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
#: Side of a CIFAR-10 image.
CIFAR10_SIZE = 32
#: Bytes per record: the label, then 3 x 32 x 32 pixels.
RECORD_BYTES = 1 + 3 * CIFAR10_SIZE * CIFAR10_SIZE
#: The files of each split.
CIFAR10_FILES = {
    "train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
    "test": ("test_batch.bin",),
}

Split = Literal["train", "test"]


def cifar10_files(root: str | Path, split: Split) -> list[Path]:
    """The binary files of `split` under `root`, checked: present, non-empty, whole records.

    Raises:
        FileNotFoundError: `root` is not a folder, or a file is missing (the message says
            when `root` holds the pickled Python release or the binary folder one level down).
        ValueError: a file is not a whole number of 3,073-byte records.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"data.path: no folder at {str(root)!r} (expected the CIFAR-10 binary release, "
            "cifar-10-batches-bin)"
        )
    files = [root / name for name in CIFAR10_FILES[split]]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(f"data.path {str(root)!r}: {_missing_hint(root, missing)}")
    for f in files:
        size = f.stat().st_size
        if size == 0 or size % RECORD_BYTES:
            raise ValueError(
                f"data.path: {str(f)!r} is {size} bytes, expected a non-zero multiple of the "
                f"{RECORD_BYTES}-byte CIFAR-10 record (label + 3x32x32 pixels)"
            )
    return files


def _missing_hint(root: Path, missing: list[str]) -> str:
    if (root / "data_batch_1").is_file() or (root / "batches.meta").is_file():
        return (
            "this is the pickled Python release (cifar-10-batches-py), which is never read; "
            "give the binary release's folder, cifar-10-batches-bin"
        )
    if (root / "cifar-10-batches-bin").is_dir():
        return f"the binary release is one level down: {str(root / 'cifar-10-batches-bin')!r}"
    return f"expected the CIFAR-10 binary files, missing {', '.join(missing)}"


class Cifar10(KeyedImages):
    """One split of CIFAR-10's binary release: `(3, 32, 32)` in $[-1, 1]$, labels 0..9.

    Args:
        root: The `cifar-10-batches-bin` folder.
        split: `train` (the five data batches) or `test` (`test_batch.bin`).
        flip: Mirror horizontally with probability 1/2, by key.

    Raises:
        FileNotFoundError, ValueError: as `cifar10_files`; ValueError for a label byte >= 10.
    """

    def __init__(self, root: str | Path, split: Split = "train", *, flip: bool = False) -> None:
        if split not in CIFAR10_FILES:
            raise ValueError(f"Cifar10 split: expected 'train' or 'test', got {split!r}")
        self.paths = cifar10_files(root, split)
        self.flip = flip
        self.classes = CIFAR10_CLASSES
        self.shape = (3, CIFAR10_SIZE, CIFAR10_SIZE)
        self._records: list[np.ndarray] | None = None
        counts = [p.stat().st_size // RECORD_BYTES for p in self.paths]
        self._starts = np.cumsum([0, *counts])
        self.labels = np.concatenate([r[:, 0] for r in self.records]).astype(np.int64)
        if int(self.labels.max()) >= len(CIFAR10_CLASSES):
            bad = int(np.argmax(self.labels >= len(CIFAR10_CLASSES)))
            raise ValueError(
                f"data.path: CIFAR-10 record {bad} of the {split} split has label byte "
                f"{int(self.labels[bad])}, expected 0..9 (not the binary release?)"
            )

    @property
    def records(self) -> list[np.ndarray]:
        """Each file as a read-only memory map `(N_file, 3073)` uint8, mapped on first use."""
        if self._records is None:
            self._records = [
                np.memmap(p, dtype=np.uint8, mode="r").reshape(-1, RECORD_BYTES) for p in self.paths
            ]
        return self._records

    def __getstate__(self) -> dict[str, object]:
        return {**self.__dict__, "_records": None}  # workers map the files themselves

    def __len__(self) -> int:
        return int(self._starts[-1])

    def pixels(self, index: int) -> np.ndarray:
        """Image `index`, `(3, 32, 32)` uint8 (the record's R, G, B planes)."""
        if not 0 <= index < len(self):
            raise IndexError(f"Cifar10 index: expected 0 <= index < {len(self)}, got {index}")
        f = int(np.searchsorted(self._starts, index, side="right")) - 1
        record = self.records[f][index - int(self._starts[f])]
        return np.array(record[1:]).reshape(self.shape)

    def label(self, index: int) -> int:
        """The class of image `index`, in `[0, 10)`."""
        return int(self.labels[index])


__all__ = ["CIFAR10_CLASSES", "CIFAR10_FILES", "RECORD_BYTES", "Cifar10", "cifar10_files"]

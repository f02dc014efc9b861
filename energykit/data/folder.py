"""A class-per-subfolder image dataset with the ADM centre crop (PIL only, no torchvision).

```
root/
  n01440764/ img0.JPEG img1.JPEG ...
  n01443537/ ...
```

Classes are the sorted subfolder names. Each image is converted to RGB, centre-cropped to
`image_size` the way the ADM / DiT / EqM pipelines do it, optionally flipped horizontally,
and scaled to $[-1, 1]$.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from energykit._checks import check_int
from energykit._extras import install_hint

#: File suffixes read as images (case-insensitive).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def _pil() -> Any:
    if importlib.util.find_spec("PIL") is None:
        raise ImportError(f"reading image files needs Pillow: {install_hint('data')}")
    from PIL import Image

    return Image


def center_crop_adm(image: Any, image_size: int) -> np.ndarray:
    """ADM centre crop of a PIL image: halve with a box filter while the short side is at
    least twice `image_size`, resize (bicubic) so the short side is `image_size`, then cut
    the centre square. Returns `(image_size, image_size, channels)` uint8."""
    pil = _pil()
    while min(*image.size) >= 2 * image_size:
        image = image.resize(tuple(s // 2 for s in image.size), resample=pil.BOX)
    scale = image_size / min(*image.size)
    image = image.resize(tuple(round(s * scale) for s in image.size), resample=pil.BICUBIC)
    arr = np.asarray(image)
    top = (arr.shape[0] - image_size) // 2
    left = (arr.shape[1] - image_size) // 2
    return arr[top : top + image_size, left : left + image_size]


class ImageFolder(Dataset[tuple[Tensor, int]]):
    """Images under `root/<class>/`, as `(3, image_size, image_size)` float tensors in
    $[-1, 1]$ with integer labels.

    Args:
        root: Folder with one subfolder per class.
        image_size: Output side in pixels (256 for the paper).
        flip: Flip horizontally with probability 1/2 (drawn from `generator` when given to
            `__getitem__`, else from torch's global RNG, which DataLoader seeds per worker).
    """

    def __init__(self, root: str | Path, image_size: int, *, flip: bool = True) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"ImageFolder root: no folder at {str(self.root)!r}")
        self.image_size = check_int("image_size", image_size, minimum=1)
        self.flip = flip
        self.classes = sorted(p.name for p in self.root.iterdir() if p.is_dir())
        self.samples: list[tuple[Path, int]] = [
            (f, label)
            for label, name in enumerate(self.classes)
            for f in sorted((self.root / name).rglob("*"))
            if f.suffix.lower() in IMAGE_SUFFIXES
        ]
        if not self.samples:
            raise ValueError(
                f"ImageFolder root {str(self.root)!r}: expected class subfolders holding images "
                f"({', '.join(IMAGE_SUFFIXES)}), found none"
            )

    def __len__(self) -> int:
        return len(self.samples)

    def load(self, index: int) -> np.ndarray:
        """The centre-cropped RGB image `index`, `(H, W, 3)` uint8, without flipping."""
        path, _ = self.samples[index]
        with _pil().open(path) as image:
            return center_crop_adm(image.convert("RGB"), self.image_size)

    def __getitem__(
        self, index: int, generator: torch.Generator | None = None
    ) -> tuple[Tensor, int]:
        arr = self.load(index)
        x = torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1).float() / 127.5 - 1.0
        if self.flip and bool(torch.rand((), generator=generator) < 0.5):
            x = x.flip(-1)
        return x, self.samples[index][1]

"""A folder of PNG/JPEG files as a keyed image dataset (`data.name: folder`).

```
root/                         root/
  cat/ a.png b/c.png ...        img0.png img1.jpg ...
  dog/ ...
```

With class subfolders, labels are the sorted subfolder names (files found at any depth
below each); a flat folder has no labels. Each image is resized so its short side is `size`
and centre-cropped to `size x size` (the ADM crop, `center_crop_adm`), then mirrored as its
key says (`energykit.data.keyed`).

Channels: the first file (in sorted order) decides. A grayscale first image (PIL modes `1`,
`L`, `LA`, `I`, `I;16`, `F`) makes every image 1 channel (`convert("L")`), any other makes
every image RGB, 3 channels; a folder of mixed images is read in that one mode, as
torchvision reads every image as RGB.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from energykit._checks import check_int
from energykit.data.folder import IMAGE_SUFFIXES, _pil, center_crop_adm
from energykit.data.keyed import KeyedImages

#: PIL modes read as one channel (grayscale).
GRAY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "F"})


def _images_in(folder: Path, *, recursive: bool) -> list[Path]:
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(f for f in found if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)


def list_images(root: Path) -> tuple[list[Path], list[int] | None, tuple[str, ...] | None]:
    """The image files under `root`, their labels and the class names.

    Returns:
        `(files, labels, classes)`: with class subfolders, the files of each class (sorted,
        at any depth) with label = its folder's index in the sorted `classes`; for a flat
        folder `labels` and `classes` are `None`.

    Raises:
        FileNotFoundError: `root` is not a folder.
        ValueError: no images, or images both directly in `root` and in subfolders.
    """
    if not root.is_dir():
        raise FileNotFoundError(f"data.path: no folder at {str(root)!r}")
    loose = _images_in(root, recursive=False)
    folders = sorted(p for p in root.iterdir() if p.is_dir() and _images_in(p, recursive=True))
    if loose and folders:
        raise ValueError(
            f"data.path {str(root)!r}: expected images directly in it or class subfolders, got "
            f"both ({len(loose)} loose files and {len(folders)} subfolders with images)"
        )
    if loose:
        return loose, None, None
    if not folders:
        raise ValueError(
            f"data.path {str(root)!r}: expected image files ({', '.join(IMAGE_SUFFIXES)}) in "
            "it or in class subfolders, found none"
        )
    files, labels = [], []
    for label, folder in enumerate(folders):
        found = _images_in(folder, recursive=True)
        files += found
        labels += [label] * len(found)
    return files, labels, tuple(p.name for p in folders)


def decode(path: Path, size: int, mode: str) -> np.ndarray:
    """The image at `path` in PIL `mode` (`L` or `RGB`), resized so the short side is `size`
    and centre-cropped: `(C, size, size)` uint8."""
    with _pil().open(path) as image:
        arr = center_crop_adm(image.convert(mode), size)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


class FolderImages(KeyedImages):
    """The images of a folder, `(C, size, size)` in $[-1, 1]$, labelled by class subfolder.

    Args:
        root: The folder (class subfolders optional).
        size: Output side in pixels.
        flip: Mirror horizontally with probability 1/2, by key.

    Raises:
        FileNotFoundError: `root` is not a folder.
        ValueError: no images, or a mix of loose files and class subfolders.
    """

    def __init__(self, root: str | Path, size: int, *, flip: bool = False) -> None:
        self.root = Path(root)
        self.size = check_int("data.size", size, minimum=1)
        self.flip = flip
        self.files, self.labels, self.classes = list_images(self.root)
        with _pil().open(self.files[0]) as first:
            self.mode = "L" if first.mode in GRAY_MODES else "RGB"
        self.shape = (1 if self.mode == "L" else 3, self.size, self.size)

    def __len__(self) -> int:
        return len(self.files)

    def pixels(self, index: int) -> np.ndarray:
        """Image `index` resized and centre-cropped, `(C, size, size)` uint8."""
        return decode(self.files[index], self.size, self.mode)

    def label(self, index: int) -> int | None:
        """The class of image `index` (`None` in a flat folder)."""
        return None if self.labels is None else self.labels[index]


__all__ = ["GRAY_MODES", "FolderImages", "decode", "list_images"]

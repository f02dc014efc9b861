"""A folder of PNG/JPEG files as a keyed image dataset (`data.name: folder`).

```
root/                         root/
  cat/ a.png b/c.png ...        img0.png img1.jpg ...
  dog/ ...
```

With class subfolders, labels are the sorted subfolder names (files found at any depth
below each); a flat folder has no labels. Hidden names (starting with `.`, e.g. the macOS
AppleDouble files `._a.png` or `.ipynb_checkpoints/`) are skipped. Each image is resized so
its short side is `size` and centre-cropped to `size x size` (the ADM crop,
`center_crop_adm`), then mirrored as its key says (`energykit.data.keyed`).

Every file's header is read when the dataset is built (PIL opens lazily: the header only,
about 0.1 ms a file), so a file that is not an image, or of a refused mode, is named then
rather than when first drawn; a file whose header reads but whose pixels do not decode is
named when it is read, as `ValueError("data.path ...: 'x.png' is not a readable image
(...)")`.

Channels: the first file (in sorted order) decides. A grayscale first image (`GRAY_MODES`)
makes every image 1 channel (`L`), any other makes every image RGB, 3 channels; a folder of
mixed images is read in that one mode, as torchvision reads every image as RGB.

16-bit images (`WIDE_MODES`: `I;16`, `I;16B`, `I;16L`, `I;16N`, and `I` holding values in
`0..65535`, as 16-bit PNG and TIFF files open) are first reduced to 8 bits,
$p = \\text{round}(v / 257)$, so `0 -> 0`, `65535 -> 255`, and then read as an 8-bit image:
the same $[-1, 1]$ scaling ($0 \\to -1$, the type's maximum $\\to 1$), never PIL's
`convert("L")`, which clips every value above 255. Float images (mode `F`, whose range no
file states) and modes not in `ACCEPTED_MODES` are refused, naming the file and its mode.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from energykit._checks import check_int
from energykit.data.folder import IMAGE_SUFFIXES, _pil, center_crop_adm
from energykit.data.keyed import KeyedImages

#: 16-bit PIL modes, reduced to 8 bits by $\text{round}(v / 257)$ before anything else.
WIDE_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N"})
#: PIL modes read as one channel (grayscale).
GRAY_MODES = frozenset({"1", "L", "LA"}) | WIDE_MODES
#: PIL modes read: the 8-bit ones (converted to `L` or `RGB`) and the 16-bit ones.
ACCEPTED_MODES = (
    frozenset({"P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "HSV"}) | GRAY_MODES
)
#: The largest 16-bit value; $65535 / 257 = 255$.
WIDE_PEAK = 65535
_WIDE_TO_8BIT = 257.0


def _pil_errors() -> tuple[type[BaseException], ...]:
    """What PIL raises for a file it cannot read (`UnidentifiedImageError` is an `OSError`)."""
    return (OSError, ValueError, SyntaxError, EOFError, _pil().DecompressionBombError)


def _where(root: Path, path: Path) -> str:
    """`data.path 'root': 'file'`, the file relative to the folder."""
    return f"data.path {str(root)!r}: {str(path.relative_to(root))!r}"


def _unreadable(root: Path, path: Path, err: BaseException) -> ValueError:
    return ValueError(f"{_where(root, path)} is not a readable image ({err})")


def _check_mode(root: Path, path: Path, mode: str) -> str:
    if mode not in ACCEPTED_MODES:
        raise ValueError(
            f"{_where(root, path)} has PIL mode {mode!r}, expected one of "
            f"{', '.join(sorted(ACCEPTED_MODES))} (8 or 16 bits); convert it to an 8-bit PNG"
        )
    return mode


def _images_below(folder: Path) -> list[Path]:
    """The image files at any depth below `folder`, sorted, hidden names skipped."""
    found = []
    for top, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]  # os.walk descends into `dirs`
        found += [Path(top, n) for n in names if _is_image_name(n)]
    return sorted(found)


def _is_image_name(name: str) -> bool:
    return not name.startswith(".") and Path(name).suffix.lower() in IMAGE_SUFFIXES


def list_images(root: Path) -> tuple[list[Path], list[int] | None, tuple[str, ...] | None]:
    """The image files under `root`, their labels and the class names (one walk of the tree;
    hidden names skipped).

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
    loose: list[Path] = []
    by_class: dict[str, list[Path]] = {}
    for entry in sorted(root.iterdir()):
        if entry.is_dir() and not entry.name.startswith("."):
            found = _images_below(entry)
            if found:
                by_class[entry.name] = found
        elif _is_image_name(entry.name) and entry.is_file():
            loose.append(entry)
    if loose and by_class:
        raise ValueError(
            f"data.path {str(root)!r}: expected images directly in it or class subfolders, got "
            f"both ({len(loose)} loose files and {len(by_class)} subfolders with images)"
        )
    if loose:
        return loose, None, None
    if not by_class:
        raise ValueError(
            f"data.path {str(root)!r}: expected image files ({', '.join(IMAGE_SUFFIXES)}) in "
            "it or in class subfolders, found none"
        )
    classes = tuple(by_class)  # sorted: the entries were
    files = [f for name in classes for f in by_class[name]]
    labels = [label for label, name in enumerate(classes) for _ in by_class[name]]
    return files, labels, classes


def read_mode(root: Path, path: Path) -> str:
    """The PIL mode of the image at `path` (below `root`), from its header only.

    Raises:
        ValueError: the file is not an image PIL reads, or its mode is not accepted.
    """
    try:
        with _pil().open(path) as image:
            mode = str(image.mode)
    except _pil_errors() as err:
        raise _unreadable(root, path, err) from err
    return _check_mode(root, path, mode)


def _to_8bit(image: Any, root: Path, path: Path) -> Any:
    """A 16-bit image (`WIDE_MODES`) as an 8-bit `L` image, $\\text{round}(v / 257)$; any
    other image as it is."""
    if image.mode not in WIDE_MODES:
        return image
    wide = np.asarray(image).astype(np.float64)  # `I;16B` is big-endian: astype reorders
    low, high = wide.min(), wide.max()
    if low < 0 or high > WIDE_PEAK:
        raise ValueError(
            f"{_where(root, path)} (PIL mode {image.mode!r}) holds values {low:g}..{high:g}, "
            f"expected 16-bit values 0..{WIDE_PEAK}"
        )
    return _pil().fromarray(np.round(wide / _WIDE_TO_8BIT).astype(np.uint8))  # mode L


def decode(root: Path, path: Path, size: int, mode: str) -> np.ndarray:
    """The image at `path` (below `root`) in PIL `mode` (`L` or `RGB`), 16-bit images
    reduced to 8 bits, resized so the short side is `size` and centre-cropped:
    `(C, size, size)` uint8.

    Raises:
        ValueError: the file is not a readable image, its mode is not accepted, or 16-bit
            mode `I` holds other values.
    """
    try:
        with _pil().open(path) as image:
            image.load()  # the pixels stay readable after the file is closed
    except _pil_errors() as err:
        raise _unreadable(root, path, err) from err
    _check_mode(root, path, str(image.mode))  # a file changed since its header was read
    arr = center_crop_adm(_to_8bit(image, root, path).convert(mode), size)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


class FolderImages(KeyedImages):
    """The images of a folder, `(C, size, size)` in $[-1, 1]$, labelled by class subfolder.

    Args:
        root: The folder (class subfolders optional).
        size: Output side in pixels.
        flip: Mirror horizontally with probability 1/2, by key.

    Raises:
        FileNotFoundError: `root` is not a folder.
        ValueError: no images, a mix of loose files and class subfolders, or a file that is
            not an image of an accepted mode (every header is read here).
    """

    def __init__(self, root: str | Path, size: int, *, flip: bool = False) -> None:
        self.root = Path(root)
        self.size = check_int("data.size", size, minimum=1)
        self.flip = flip
        self.files, self.labels, self.classes = list_images(self.root)
        modes = [read_mode(self.root, f) for f in self.files]
        self.mode = "L" if modes[0] in GRAY_MODES else "RGB"
        self.shape = (1 if self.mode == "L" else 3, self.size, self.size)

    def __len__(self) -> int:
        return len(self.files)

    def pixels(self, index: int) -> np.ndarray:
        """Image `index` resized and centre-cropped, `(C, size, size)` uint8."""
        return decode(self.root, self.files[index], self.size, self.mode)

    def label(self, index: int) -> int | None:
        """The class of image `index` (`None` in a flat folder)."""
        return None if self.labels is None else self.labels[index]


__all__ = [
    "ACCEPTED_MODES",
    "GRAY_MODES",
    "WIDE_MODES",
    "FolderImages",
    "decode",
    "list_images",
    "read_mode",
]

"""Images tiled into a grid, and PNG files written with the standard library alone (zlib), so
sample grids while training need no imaging package: 8-bit grayscale or RGB, no interlace,
filter 0. Shared by `energykit.viz` (which re-exports `image_grid`) and the grids training
draws."""

from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from energykit._io import atomic_write

SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: PNG colour types by channel count: grayscale, RGB.
COLOUR_TYPES = {1: 0, 3: 2}


def image_grid(x: Tensor, nrow: int | None = None, pad: int = 1) -> Tensor:
    """Tile images `(B, C, H, W)` in $[-1, 1]$ into one `(H', W', C)` array in $[0, 1]$.

    Args:
        x: Images; values are clipped to $[-1, 1]$.
        nrow: Images per row (default: about square).
        pad: Pixels of white between images.
    """
    if x.ndim != 4:
        raise ValueError(f"image_grid x: expected (B, C, H, W), got {tuple(x.shape)}")
    b, c, h, w = x.shape
    nrow = nrow or math.ceil(math.sqrt(b))
    rows = math.ceil(b / nrow)
    grid = torch.ones(c, rows * (h + pad) + pad, nrow * (w + pad) + pad)
    img = (x.detach().cpu().float().clamp(-1, 1) + 1) / 2
    for i in range(b):
        r, col = divmod(i, nrow)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        grid[:, top : top + h, left : left + w] = img[i]
    return grid.permute(1, 2, 0)


def png_bytes(image: np.ndarray) -> bytes:
    """An image `(H, W)` or `(H, W, C)` (C = 1 or 3), `uint8`, as the bytes of a PNG file.

    Raises:
        ValueError: another dtype, rank or channel count.
    """
    if image.dtype != np.uint8:
        raise ValueError(f"png image: expected uint8, got {image.dtype}")
    pixels = image[..., None] if image.ndim == 2 else image
    if pixels.ndim != 3 or pixels.shape[2] not in COLOUR_TYPES:
        raise ValueError(f"png image: expected (H, W), (H, W, 1) or (H, W, 3), got {image.shape}")
    h, w, c = pixels.shape
    rows = np.concatenate([np.zeros((h, 1), np.uint8), pixels.reshape(h, w * c)], axis=1)
    header = struct.pack(">IIBBBBB", w, h, 8, COLOUR_TYPES[c], 0, 0, 0)
    return (
        SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows.tobytes(), 6))
        + _chunk(b"IEND", b"")
    )


def write_png(path: str | Path, image: np.ndarray) -> Path:
    """Write `image` (see `png_bytes`) to `path` atomically; returns the path."""
    data = png_bytes(image)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, lambda f: f.write(data))


def grid_pixels(grid: np.ndarray) -> np.ndarray:
    """A grid in $[0, 1]$, `(H, W, C)` float (`energykit.viz.image_grid`), as uint8 pixels."""
    return np.round(np.clip(grid, 0.0, 1.0) * 255.0).astype(np.uint8)


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


__all__ = ["grid_pixels", "image_grid", "png_bytes", "write_png"]

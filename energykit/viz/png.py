"""PNG files written and read with the standard library alone (zlib), so sample grids while
training need no imaging package: 8-bit grayscale or RGB, no interlace, filter 0."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from energykit._io import atomic_write

SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: PNG colour types by channel count: grayscale, RGB.
COLOUR_TYPES = {1: 0, 3: 2}


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


__all__ = ["grid_pixels", "png_bytes", "write_png"]

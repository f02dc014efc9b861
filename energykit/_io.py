"""Atomic file writes: a crash while writing never destroys the previous file.

The payload goes to a temporary file in the same directory, is flushed and fsync'ed, then
renamed over the target (`os.replace` is atomic on POSIX and Windows), and the directory entry
is fsync'ed where the platform allows it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import torch


def atomic_write(path: str | Path, write: Callable[[BinaryIO], Any]) -> Path:
    """Call `write(f)` on a temporary binary file in `path`'s directory, flush and fsync it,
    then rename it over `path` (and fsync the directory)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def atomic_save(payload: Any, path: str | Path) -> Path:
    """`torch.save` to a temporary file in `path`'s directory, then rename over `path`."""
    return atomic_write(path, lambda f: torch.save(payload, f))


def atomic_save_npy(array: Any, path: str | Path) -> Path:
    """`numpy.save` a contiguous copy of `array`, atomically."""
    import numpy as np

    data = np.ascontiguousarray(array)
    return atomic_write(path, lambda f: np.save(f, data))


def atomic_savez(path: str | Path, arrays: dict[str, Any]) -> Path:
    """`numpy.savez` the named arrays (uncompressed), atomically."""
    import numpy as np

    savez: Any = np.savez
    return atomic_write(path, lambda f: savez(f, **arrays))


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. Windows cannot open directories
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

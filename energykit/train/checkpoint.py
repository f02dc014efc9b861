"""Atomic checkpoints: a crash while writing never destroys the previous file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from energykit._io import atomic_save, load_torch


def save_checkpoint(payload: dict[str, Any], path: str | Path) -> Path:
    """Write `payload` with `torch.save` to `path` atomically (temporary file in the same
    directory, flush, fsync, rename, fsync of the directory); returns the path."""
    return atomic_save(payload, path)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by `save_checkpoint` (or by `Trainer`)."""
    path = Path(path)
    payload = load_torch(path, what="checkpoint", map_location=map_location)
    if not isinstance(payload, dict):
        raise ValueError(f"checkpoint {str(path)!r}: expected a dict, got {type(payload).__name__}")
    return payload

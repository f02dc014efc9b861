"""What the commands share: argument checks that name the flag, and samples files read with
one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from energykit._io import load_torch
from energykit.sampling import load_samples
from energykit.train import CHECKPOINT_FORMAT, ConfigError


def check_folder(path: str, flag: str, expected: str) -> None:
    """Refuse a folder argument that names a file, or lies under one."""
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise FileExistsError(f"{flag} {path!r}: a file; expected {expected}")
    check_parents(target, flag)


def check_out_file(path: str, flag: str) -> None:
    """Refuse an output file argument that names a folder, or lies under a file."""
    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(f"{flag} {path!r}: a folder; expected a file name")
    check_parents(target, flag)


def check_parents(target: Path, flag: str) -> None:
    for parent in target.parents:
        if parent.exists():
            if not parent.is_dir():
                raise NotADirectoryError(
                    f"{flag} {str(target)!r}: {str(parent)!r} is a file, not a folder"
                )
            return


def same_shape(x: torch.Tensor, ref: torch.Tensor, flag: str, what: str) -> None:
    """Refuse samples whose per-sample shape differs from the reference's."""
    if x.shape[1:] != ref.shape[1:]:
        raise ConfigError(
            f"{flag}: the samples have shape {tuple(x.shape[1:])} each, but {what} has "
            f"{tuple(ref.shape[1:])}; score samples against data of the same shape"
        )


def read_samples(path: str, flag: str) -> tuple[torch.Tensor, dict[str, Any]]:
    """`load_samples`, with one-line errors for files that hold something else."""
    if Path(path).is_dir():
        raise IsADirectoryError(f"{flag} {path!r}: a folder; expected a samples file")
    if not Path(path).is_file():
        raise FileNotFoundError(f"{flag}: no file at {path!r}")
    try:
        x, meta = load_samples(path)
    except (KeyError, TypeError, IndexError):
        raise ConfigError(not_samples(path, flag)) from None
    if not isinstance(x, torch.Tensor) or x.ndim < 2 or len(x) == 0:
        got = f"shape {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
        raise ConfigError(f"{flag} {path!r}: expected samples (n, *shape) with n >= 1, got {got}")
    return x, meta


def not_samples(path: str, flag: str) -> str:
    """Why the file at `path` is not a samples file (it loaded, but holds no `x`)."""
    payload = load_torch(path, what=flag)
    if isinstance(payload, dict) and payload.get("format") == CHECKPOINT_FORMAT:
        return (
            f"{flag} {path!r}: a training checkpoint, not a samples file; make one with "
            f"`energykit sample {path} --out SAMPLES.pt`"
        )
    keys = sorted(map(str, payload)) if isinstance(payload, dict) else type(payload).__name__
    return (
        f"{flag} {path!r}: expected a samples file (a tensor, or a dict with the samples "
        f"under 'x', as `energykit sample` writes), got {keys}"
    )

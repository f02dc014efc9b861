"""Checkpoint files: atomic, checksummed, finite, and loaded without executing code.

`save_checkpoint` refuses a payload holding a non-finite float, adds the SHA-256 digest of
its content under `"sha256"`, and writes it atomically (temporary file, fsync, rename). The
digest covers every tensor's dtype, shape and bytes and every other value, walked in a
fixed order, so `load_checkpoint` can recompute it from what it read: a flipped byte inside
a tensor record, which `torch.load` itself does not notice, is refused.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import torch
from torch import Tensor

from energykit._io import UnreadableFileError, atomic_save, load_torch

#: Key of the content digest inside a checkpoint.
DIGEST_KEY = "sha256"


class CorruptCheckpointError(UnreadableFileError):
    """A checkpoint's content does not match the digest written with it."""


def save_checkpoint(payload: dict[str, Any], path: str | Path) -> Path:
    """Write `payload` (plus its digest) with `torch.save` to `path` atomically.

    Raises:
        FloatingPointError: a floating-point tensor in `payload` holds NaN or inf (nothing is
            written; the message names the entries).
    """
    bad = nonfinite_entries(payload)
    if bad:
        raise FloatingPointError(
            f"checkpoint {str(path)!r}: not written, non-finite values in {_names(bad)}"
        )
    body = {k: v for k, v in payload.items() if k != DIGEST_KEY}
    return atomic_save({**body, DIGEST_KEY: payload_digest(body)}, path)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by `save_checkpoint` (or by `Trainer`) and verify its digest.

    Files written before digests existed (no `"sha256"` key) load unverified.

    Raises:
        FileNotFoundError: no file at `path`.
        UnreadableFileError: empty, truncated, not a checkpoint, or holding forbidden objects.
        CorruptCheckpointError: the content does not match its digest.
    """
    payload = load_torch(path, what="checkpoint", map_location=map_location)
    if not isinstance(payload, dict):
        raise UnreadableFileError(
            f"checkpoint {str(path)!r}: expected a dict, got {type(payload).__name__}"
        )
    stored = payload.pop(DIGEST_KEY, None)
    if stored is not None and stored != payload_digest(payload):
        raise CorruptCheckpointError(
            f"checkpoint {str(path)!r}: content does not match the checksum written with it "
            "(the file was damaged or changed after it was saved); refusing to load it"
        )
    return payload


def payload_digest(payload: Any) -> str:
    """SHA-256 over a nested payload: tensors (dtype, shape, bytes) and plain values, in a
    fixed order (dict keys sorted by their repr), independent of the device."""
    h = hashlib.sha256()
    for token in _tokens(payload):
        h.update(token if isinstance(token, (bytes, memoryview)) else token.encode())
    return h.hexdigest()


def nonfinite_entries(payload: Any, prefix: str = "") -> list[str]:
    """Dotted names of the floating-point tensors in `payload` that hold NaN or inf."""
    if isinstance(payload, Tensor):
        if payload.is_floating_point() and not bool(torch.isfinite(payload).all()):
            return [prefix or "<tensor>"]
        return []
    if isinstance(payload, dict):
        items: Any = payload.items()
    elif isinstance(payload, (list, tuple)):
        items = enumerate(payload)
    else:
        return []
    return [
        n for k, v in items for n in nonfinite_entries(v, f"{prefix}.{k}" if prefix else str(k))
    ]


def intact_checkpoints(directory: str | Path) -> list[tuple[int, Path]]:
    """The `step_*.pt` and `last.pt` files in `directory` that load and verify, as
    `(step, path)`, newest step first."""
    found = []
    for path in sorted(Path(directory).glob("*.pt")):
        if path.name != "last.pt" and not _STEP_FILE.fullmatch(path.name):
            continue
        try:
            payload = load_checkpoint(path)
        except (UnreadableFileError, FileNotFoundError):
            continue
        found.append((int(payload.get("step", -1)), path))
    return sorted(found, key=lambda t: (-t[0], t[1].name != "last.pt"))


_STEP_FILE = re.compile(r"step_\d+\.pt")


def _tokens(value: Any) -> Iterator[bytes | memoryview | str]:
    if isinstance(value, Tensor):
        t = value.detach().cpu().contiguous().reshape(-1)
        yield f"T{t.dtype}{tuple(value.shape)}:"
        yield memoryview(cast(Any, t.view(torch.uint8).numpy())) if t.numel() else b""
    elif isinstance(value, dict):
        yield f"D{len(value)}:"
        for key in sorted(value, key=repr):
            yield f"K{key!r}:"
            yield from _tokens(value[key])
    elif isinstance(value, (list, tuple)):
        yield f"L{len(value)}:"
        for item in value:
            yield from _tokens(item)
    else:
        yield f"V{type(value).__name__}:{value!r};"


def _names(names: list[str], limit: int = 5) -> str:
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more

"""Checkpoint integrity: a content digest and a finiteness scan of nested payloads.

The digest covers every tensor's dtype, shape and bytes and every other value, walked in a
fixed order (dict keys sorted by their repr), so it can be recomputed from what `torch.load`
returns and does not depend on the device the tensors were loaded to.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any, cast

import torch
from torch import Tensor


def payload_digest(payload: Any) -> str:
    """SHA-256 over a nested payload: tensors (dtype, shape, bytes) and plain values, in a
    fixed order (dict keys sorted by their repr), independent of the device."""
    h = hashlib.sha256()
    for token in _tokens(payload):
        h.update(token if isinstance(token, (bytes, memoryview)) else token.encode())
    return h.hexdigest()


def nonfinite_entries(payload: Any) -> list[str]:
    """Dotted names of the floating-point tensors in `payload` that hold NaN or inf.

    One reduction per tensor on its own device, then one read-back per device (not one per
    tensor: a large model's state has hundreds of tensors).
    """
    named = [(name, t) for name, t in _tensors(payload, "") if t.is_floating_point()]
    bad: set[str] = set()
    for device in {t.device for _, t in named}:
        here = [(name, t) for name, t in named if t.device == device]
        finite = torch.stack([torch.isfinite(t).all() for _, t in here]).tolist()
        bad.update(name for (name, _), ok in zip(here, finite, strict=True) if not ok)
    return [name for name, _ in named if name in bad]


def _tensors(payload: Any, prefix: str) -> Iterator[tuple[str, Tensor]]:
    """Every tensor in a nested payload of dicts, lists and tuples, with its dotted name."""
    if isinstance(payload, Tensor):
        yield prefix or "<tensor>", payload
    elif isinstance(payload, (dict, list, tuple)):
        items = payload.items() if isinstance(payload, dict) else enumerate(payload)
        for key, value in items:
            yield from _tensors(value, f"{prefix}.{key}" if prefix else str(key))


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


def name_list(names: list[str], limit: int = 5) -> str:
    """The first `limit` names, comma-separated, and how many more there are."""
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more

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

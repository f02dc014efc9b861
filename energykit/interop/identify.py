"""Recognise a checkpoint of the reference EqM release, so that a loader expecting another
format can say what the file is and how to load it (`energykit sample --reference HEAD`)."""

from __future__ import annotations

from argparse import Namespace
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from energykit._io import UnreadableFileError, load_torch
from energykit.interop.reference import HEADS
from energykit.nets.dit import preset_kwargs

#: A key every reference EqM state dict has (possibly behind a wrapper's prefix).
_MARKER = "x_embedder.proj.weight"


@dataclass(frozen=True)
class ReferenceCheckpoint:
    """What a reference EqM checkpoint file says about itself.

    Attributes:
        head: The energy head its training arguments record (`args.ebm`: `"none"`, `"dot"`,
            `"l2"`), or `None` when it records none (a bare state dict, no `args`).
        preset: Its model preset (`args.model`, e.g. `"EqM-XL/2"`) when that is a preset
            energykit knows, else `None`.
    """

    head: str | None
    preset: str | None


def identify_reference_checkpoint(path: str | Path) -> ReferenceCheckpoint | None:
    """`path` as a reference EqM checkpoint (`{"model", "ema", "opt", "args"}` or a bare state
    dict), or `None` when it is not one (or cannot be read). Nothing in it is executed: it is
    read like `load_reference_eqm` reads it, with `argparse.Namespace` the one class allowed."""
    try:
        raw = load_torch(path, what="checkpoint", allow=[Namespace])
    except (UnreadableFileError, OSError):
        return None
    if not isinstance(raw, Mapping) or str(raw.get("format", "")).startswith("energykit."):
        return None
    states = [raw, *(raw.get(k) for k in ("ema", "model"))]
    if not any(isinstance(s, Mapping) and _has_marker(s) for s in states):
        return None
    args = raw.get("args")
    head = getattr(args, "ebm", None)
    preset = _preset(getattr(args, "model", None))
    return ReferenceCheckpoint(head if head in HEADS else None, preset)


def _has_marker(state: Mapping[Any, Any]) -> bool:
    return any(isinstance(k, str) and k.endswith(_MARKER) for k in state)


def _preset(name: object) -> str | None:
    """`name` when it is a preset `DiT.preset` knows (`EqM-XL/2`), else `None`."""
    if not isinstance(name, str):
        return None
    try:
        preset_kwargs(name)
    except ValueError:
        return None
    return name


__all__ = ["ReferenceCheckpoint", "identify_reference_checkpoint"]

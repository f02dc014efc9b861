"""The checkpoint file format: atomic, checksummed, finite, loaded without executing code.

`save_checkpoint` refuses a payload holding a non-finite float, adds the SHA-256 digest of
its content under `"sha256"`, and writes it atomically (temporary file, fsync, rename). The
digest covers every tensor's dtype, shape and bytes and every other value, walked in a
fixed order (dict keys sorted by their repr), so `load_checkpoint` recomputes it from what
`torch.load` returned, on any device: a flipped byte inside a tensor record, which
`torch.load` itself does not notice, is refused, and so is a file whose digest is missing,
renamed or not a digest at all.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import torch
from torch import Tensor, nn

from energykit._io import UnreadableFileError, atomic_save, load_torch

#: Key of the content digest inside a checkpoint.
DIGEST_KEY = "sha256"

#: Marks files written by `Trainer`; `load_trained` refuses anything else.
CHECKPOINT_FORMAT = "energykit.trainer/1"


class CorruptCheckpointError(UnreadableFileError):
    """A checkpoint's content does not match the digest written with it, or it has none."""


def save_checkpoint(payload: dict[str, Any], path: str | Path) -> Path:
    """Write `payload` (plus its digest) with `torch.save` to `path` atomically.

    Raises:
        FloatingPointError: a floating-point tensor in `payload` holds NaN or inf (nothing is
            written; the message names the entries).
    """
    bad = nonfinite_entries(payload)
    if bad:
        raise FloatingPointError(
            f"checkpoint {str(path)!r}: not written, non-finite values in {name_list(bad)}"
        )
    return write_checkpoint(payload, path)


def write_checkpoint(payload: dict[str, Any], path: str | Path) -> Path:
    """`save_checkpoint` without the finiteness scan, for a caller that has just made it
    (the `Trainer`, which must agree on it across ranks before rank 0 writes)."""
    body = {k: v for k, v in payload.items() if k != DIGEST_KEY}
    return atomic_save({**body, DIGEST_KEY: payload_digest(body)}, path)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by `save_checkpoint` (or by `Trainer`) and verify its digest.

    Raises:
        FileNotFoundError: no file at `path`.
        UnreadableFileError: empty, truncated, not a checkpoint, or holding forbidden objects.
        CorruptCheckpointError: no digest (the `"sha256"` key missing or not a SHA-256 hex
            string), or the content does not match it.
    """
    payload = load_torch(path, what="checkpoint", map_location=map_location)
    if not isinstance(payload, dict):
        raise UnreadableFileError(
            f"checkpoint {str(path)!r}: expected a dict, got {type(payload).__name__}"
        )
    stored = payload.pop(DIGEST_KEY, None)
    if not (isinstance(stored, str) and _HEX_DIGEST.fullmatch(stored)):
        got = "no such key" if stored is None else f"a {type(stored).__name__}"
        raise CorruptCheckpointError(
            f"checkpoint {str(path)!r}: expected its SHA-256 digest under {DIGEST_KEY!r}, got "
            f"{got}; a file without a valid digest cannot be verified and is refused"
        )
    if stored != payload_digest(payload):
        raise CorruptCheckpointError(
            f"checkpoint {str(path)!r}: content does not match the checksum written with it "
            "(the file was damaged or changed after it was saved); refusing to load it"
        )
    return payload


_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")


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


def check_trainer_payload(payload: dict[str, Any], where: str, keys: tuple[str, ...]) -> None:
    """`payload` is a `Trainer` checkpoint holding `keys`.

    Raises:
        ValueError: another format, or keys missing (named).
    """
    if payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"{where}: expected an energykit Trainer checkpoint (format "
            f"{CHECKPOINT_FORMAT!r}), got format {payload.get('format')!r}"
        )
    missing = [k for k in keys if k not in payload]
    if missing:
        raise ValueError(
            f"{where}: an energykit Trainer checkpoint missing the keys "
            f"{', '.join(map(repr, missing))} (damaged or written by another program)"
        )


def check_weights_fit(net: nn.Module, state: dict[str, Any], where: str) -> None:
    """The tensors of `state` have `net`'s state-dict names and shapes.

    Raises:
        ValueError: names missing from or unexpected in `state`, or shapes that differ (the
            first few of each are named).
    """
    if not isinstance(state, dict):
        raise ValueError(f"{where}: expected a state dict of weights, got {type(state).__name__}")
    own = net.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in own.items()
        if k in state and isinstance(state[k], Tensor) and state[k].shape != v.shape
    ]
    problems = [
        f"{label}: {name_list(names, 3)}"
        for label, names in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("shape (checkpoint vs net)", shapes),
        )
        if names
    ]
    if problems:
        raise ValueError(
            f"{where}: the weights do not fit {type(net).__name__} ({'; '.join(problems)}); "
            "pass the network the run was trained with"
        )


#: Above this weight of its initial copy an EMA is reported as mostly untrained.
FRESH_EMA_WEIGHT = 0.5


def check_loaded_weights(payload: dict[str, Any], weights: str, key: str, where: str) -> None:
    """Refuse non-finite `payload[key]` (the `weights` of a `Trainer` checkpoint); warn
    about an EMA that is still mostly its initial copy."""
    bad = nonfinite_entries(payload[key])
    if bad:
        raise ValueError(
            f"{where}: the {weights} weights hold NaN/inf ({', '.join(bad[:5])}); load an "
            "earlier checkpoint"
        )
    if weights == "ema":
        _warn_if_fresh_ema(payload, where)


def _warn_if_fresh_ema(payload: dict[str, Any], where: str) -> None:
    """Warn when the EMA's initial copy weighs more than `FRESH_EMA_WEIGHT` ($\\prod_t d_t$,
    recorded by the Trainer)."""
    step = int(payload["step"])
    weight = float(payload["ema_counters"]["initial_weight"])
    if weight > FRESH_EMA_WEIGHT:
        warnings.warn(
            f"{where}: the EMA after {step} steps still weighs its initial (random) weights "
            f"{weight:.2f}, so its samples are mostly noise; train longer, use "
            "train.ema_warmup=true, or sample the raw weights (--weights raw)",
            UserWarning,
            stacklevel=5,
        )


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

"""What a resume may change, and the log a resume leaves behind.

A resumed run must be the run that was checkpointed: every config key that changes the
training trajectory (seed, batch, EMA decay, accumulation, data, net, objective, optimiser,
precision, ...) must match the checkpoint's. Only the keys in `TRAJECTORY_FREE` may differ:
how long to train and how often to log, evaluate and checkpoint, how to sample, the device
index, where the data lives, and how the step is run (`train.compile`: the same maths, though
compiled kernels may round differently; `train.prefetch`: the same draws).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from energykit._io import atomic_write

#: Config keys (`section.key`, or `section.*`) that a resume may change.
TRAJECTORY_FREE = frozenset(
    {
        "train.steps",
        "train.log_every",
        "train.eval_every",
        "train.ckpt_every",
        "train.keep_every",
        "train.compile",
        "train.prefetch",
        "data.path",
        "sample.*",
    }
)


def trajectory_differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """The trajectory-changing keys on which two config dicts differ, as readable lines
    `"train.seed: checkpoint 0, this run 1"`. The device is compared by type only (`cuda:0`
    and `cuda:1` are the same run; `cpu` and `cuda` are not)."""
    out = []
    for section in sorted(set(saved) | set(current)):
        if f"{section}.*" in TRAJECTORY_FREE:
            continue
        old, new = saved.get(section, {}), current.get(section, {})
        for key in sorted(set(old) | set(new)):
            name = f"{section}.{key}"
            a, b = old.get(key), new.get(key)
            if name == "train.device":
                a, b = _device_type(a), _device_type(b)
            if name not in TRAJECTORY_FREE and a != b:
                out.append(f"{name}: checkpoint {old.get(key)!r}, this run {new.get(key)!r}")
    return out


def trim_log(path: Path, step: int) -> int:
    """Drop the records of `path` (a JSONL log) for steps after `step` (they are redone by
    the resumed run) and any torn last line; returns the number of lines dropped."""
    if not path.is_file():
        return 0
    kept, dropped = [], 0
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            dropped += 1
            continue
        if isinstance(record, dict) and int(record.get("step", 0)) > step:
            dropped += 1
            continue
        kept.append(line)
    if dropped:
        text = "".join(f"{line}\n" for line in kept).encode()
        atomic_write(path, lambda f: f.write(text))
    return dropped


def _device_type(device: object) -> str:
    return str(device).split(":", 1)[0]

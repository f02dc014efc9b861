"""What a resume may change and what it refuses, and the log a resume leaves behind.

A resumed run must be the run that was checkpointed: every config key that changes the
training trajectory (seed, batch, EMA decay, accumulation, data, net, objective, optimiser,
precision, ...) must match the checkpoint's. Only the keys in `TRAJECTORY_FREE` may differ:
how long to train and how often to log, evaluate, checkpoint and draw sample grids, the
trackers, how to sample, the device (compared as the type it resolves to), where the data
lives, how many processes read it (`data.workers`: the same batches), and how the step is run
(`train.compile`: the same maths, though compiled kernels may round differently;
`train.prefetch`: the same draws).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from torch import nn

from energykit._io import atomic_write
from energykit.train.checkpoint import check_trainer_payload, check_weights_fit, intact_checkpoints
from energykit.train.config import TrainConfig
from energykit.train.parallel import Parallel
from energykit.train.state import STATE_KEYS

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
        "train.track",
        "train.sample_every",
        "data.path",
        "data.workers",
        "sample.*",
    }
)


def trajectory_differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """The trajectory-changing keys on which two config dicts differ, as readable lines
    `"train.seed: checkpoint 0, this run 1"`. `train.device` is not compared as written
    (`auto` names different devices on different machines): `check_resumable` compares the
    device type the checkpoint was trained on with this run's."""
    out = []
    for section in sorted(set(saved) | set(current)):
        if f"{section}.*" in TRAJECTORY_FREE:
            continue
        old, new = saved.get(section, {}), current.get(section, {})
        for key in sorted(set(old) | set(new)):
            name = f"{section}.{key}"
            a, b = old.get(key), new.get(key)
            if name == "train.device":
                continue
            if name not in TRAJECTORY_FREE and a != b:
                out.append(f"{name}: checkpoint {old.get(key)!r}, this run {new.get(key)!r}")
    return out


def check_resumable(
    payload: dict[str, Any],
    config: TrainConfig,
    parallel: Parallel,
    data: tuple[tuple[int, ...], int | None],
    path: str | Path,
    model: nn.Module | None = None,
) -> None:
    """The checkpoint `payload` (read from `path`) continues this run: a `Trainer` checkpoint
    with every key a resume reads, the same trajectory-changing config keys, the world size
    of `parallel` (one RNG state per rank) and its device type (`train.device` resolved:
    `cuda:0` and `cuda:1` are the same run, `cpu` and `cuda` are not; `auto` is compared as
    what it chose), sample shape and classes (`data`), and weights that fit `model`
    (when given; not for FSDP shards). Data of the user's own is recorded only by its
    description, so a different tensor of the same size is not seen.

    Raises:
        ValueError: what differs, named, with the way out.
    """
    where = f"checkpoint {str(path)!r}"
    check_trainer_payload(payload, where, ("config", "shape", "num_classes", *STATE_KEYS))
    # Normalised through the dataclasses, so both sides spell every key.
    saved = TrainConfig.from_dict(payload["config"]).to_dict()
    differences = trajectory_differences(saved, config.to_dict())
    if differences:
        raise ValueError(
            f"{where}: this run's config differs from the checkpoint's in keys that change "
            f"the training trajectory: {'; '.join(differences)}. Resume with the "
            "checkpoint's values, or start a new run with --fresh (resume=False) or another "
            "--out"
        )
    world_size, device_type = parallel.dist.world_size, parallel.device.type
    if int(payload["world_size"]) != world_size:
        raise ValueError(
            f"{where}: written by {payload['world_size']} process(es); exact resume needs the "
            f"same world size, this run has {world_size}"
        )
    if payload["device_type"] != device_type:
        raise ValueError(
            f"{where}: trained on {payload['device_type']!r}; this run resolves train.device="
            f"{config.train.device!r} to {device_type!r}, and kernels round differently on "
            f"another device type. Set train.device={payload['device_type']} (on a machine "
            "that has it), or start over with --fresh (resume=False)"
        )
    shape, classes = tuple(payload["shape"]), payload["num_classes"]
    if (shape, classes) != data:
        raise ValueError(
            f"{where}: trained on samples of shape {shape} with num_classes={classes}; this "
            f"run's data has shape {data[0]} and num_classes={data[1]}. Resume with the same "
            "data, or start over with --fresh (resume=False)"
        )
    if model is not None:
        check_weights_fit(model, payload["model"], where)


def check_steps_left(step: int, steps: int, source: Path | None) -> None:
    """A run resumed at `step` (from `source`) may train up to `train.steps`.

    Raises:
        ValueError: `steps` is below `step`.
    """
    if step > steps:
        raise ValueError(
            f"train.steps: expected at least the checkpoint's step {step} (resuming from "
            f"{str(source)!r}), got {steps}; raise train.steps to train further"
        )


def resume_source(resume: object, out: Path | None) -> Path | None:
    """The checkpoint a `Trainer` resumes from: `resume` when it is a path, `out/last.pt`
    when `resume` is `True` and the file exists, else `None` (a fresh start).

    Raises:
        TypeError: `resume` is neither a bool nor a path.
    """
    if not isinstance(resume, (bool, str, Path)):
        raise TypeError(f"Trainer resume: expected a bool or a path, got {type(resume)}")
    if not isinstance(resume, bool):
        return Path(resume)
    last = None if out is None else out / "last.pt"
    return last if resume and last is not None and last.exists() else None


def resume_hint(path: Path, out: Path | None) -> str:
    """What to do when the checkpoint `path` cannot be read: the intact checkpoints beside
    it and the command that resumes from one, or starting over."""
    intact = [f"{p} (step {k})" for k, p in intact_checkpoints(path.parent) if p != path]
    if not intact:
        return "no intact checkpoint beside it; start over with --fresh (resume=False)"
    return (
        f"intact checkpoints: {', '.join(intact[:5])}; resume from one with "
        f"`energykit train RECIPE --out {out or path.parent} --resume-from PATH` "
        "(API: Trainer(config, out, resume=PATH)), or start over with --fresh"
    )


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

"""What a `Trainer` checkpoint holds and how it is restored: weights, EMA, optimiser, RNG
states of every rank, step; and the optimiser, fused where the device supports it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from energykit._distributed import any_true, barrier, gather
from energykit._io import UnreadableFileError
from energykit.train.checkpoint import (
    CHECKPOINT_FORMAT,
    check_trainer_payload,
    check_weights_fit,
    intact_checkpoints,
    load_checkpoint,
    nonfinite_entries,
    write_checkpoint,
)
from energykit.train.config import TrainConfig
from energykit.train.ema import warmup_decay
from energykit.train.guard import REMEDY, NonFiniteError, kept_note
from energykit.train.resume import trajectory_differences

if TYPE_CHECKING:
    from energykit.train.trainer import Trainer


def resume_from(trainer: Trainer, path: Path) -> None:
    """`trainer.load(path)`; a damaged file is refused with the intact checkpoints beside it."""
    try:
        trainer.load(path)
    except UnreadableFileError as err:
        intact = [f"{p} (step {k})" for k, p in intact_checkpoints(path.parent) if p != path]
        hint = (
            f"intact checkpoints: {', '.join(intact[:5])}; resume from one with "
            f"`energykit train RECIPE --out {trainer.out or path.parent} --resume-from PATH` "
            "(API: Trainer(config, out, resume=PATH)), or start over with --fresh"
            if intact
            else "no intact checkpoint beside it; start over with --fresh (resume=False)"
        )
        raise UnreadableFileError(f"{err}; {hint}") from None


def build_optimizer(trainer: Trainer) -> tuple[torch.optim.Optimizer, bool]:
    """The optimiser, fused where the device supports it (a fused step reads the divergence
    flag on the device, `found_inf`, and is a no-op when it is set), and whether it is."""
    o = trainer.config.optim
    cls: Any = {"adamw": torch.optim.AdamW, "adam": torch.optim.Adam}.get(o.name)
    kw: dict[str, Any] = {"lr": o.lr, "weight_decay": o.weight_decay}
    if cls is None:
        cls = torch.optim.SGD
    else:
        kw["betas"] = o.betas
    if not trainer.sharded and trainer.device.type in ("cpu", "cuda"):
        try:
            return cls(trainer.model.parameters(), fused=True, **kw), True
        except (RuntimeError, ValueError):  # e.g. parameters of an unsupported dtype
            pass
    return cls(trainer.model.parameters(), **kw), False


def trainer_state(trainer: Trainer) -> dict[str, Any]:
    """Everything needed to continue exactly: weights, EMA, optimiser, RNGs, step."""
    rng: dict[str, Tensor] = {
        "torch": torch.get_rng_state(),
        "data": trainer.prefetch.generator_state(),  # before a batch drawn ahead
        "noise": trainer.noise_gen.get_state(),
    }
    if trainer.device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state(trainer.device)
    ranks = gather({k: v.cpu() for k, v in rng.items()}, trainer.dist)  # collective
    if trainer.sharded:
        from energykit.train.fsdp import full_model_state, full_optimizer_state

        model_state = full_model_state(trainer.model)
        ema_state = full_model_state(trainer.ema.model)
        optim_state = full_optimizer_state(trainer.model, trainer.optimizer)
    else:
        model_state = trainer.model.state_dict()
        ema_state = trainer.ema.model.state_dict()
        optim_state = trainer.optimizer.state_dict()
    return {
        "format": CHECKPOINT_FORMAT,
        "step": trainer.step,
        "config": trainer.config.to_dict(),
        "shape": list(trainer.data.shape),
        "num_classes": trainer.num_classes,
        "model": model_state,
        "ema": ema_state,
        "ema_counters": trainer.ema.counters(),
        "optimizer": optim_state,
        "rng": rng,
        "rng_ranks": ranks,
        "world_size": trainer.dist.world_size,
    }


def save_trainer(trainer: Trainer, path: Path) -> None:
    """`trainer.save(path)`: refuse a tripped guard or non-finite state (nothing is written,
    the previous checkpoint stays as it was), then write on rank 0 (collective)."""
    trainer.guard.raise_if_tripped(trainer.saved_step)
    state = trainer_state(trainer)
    bad = nonfinite_entries({k: state[k] for k in ("model", "ema", "optimizer")})
    if any_true(bool(bad), trainer.dist):
        raise NonFiniteError(
            f"training diverged by step {trainer.step}: the weights hold NaN or infinite "
            f"values ({', '.join(bad[:3]) or 'on another rank'}); {str(path)!r} was not "
            f"written{kept_note(trainer.saved_step)}. Remedy: {REMEDY}"
        )
    if trainer.dist.is_main:  # scanned above: every float of the state is in those three
        write_checkpoint(state, path)
    barrier(trainer.dist)


#: What a resume reads from a checkpoint.
RESUME_KEYS = ("config", "step", "shape", "num_classes", "model", "ema", "optimizer", "rng")


def _check_same_data(trainer: Trainer, payload: dict[str, Any], where: str) -> None:
    """The run's sample shape and classes are the checkpoint's (data of the user's own is
    recorded only by its description, so a different tensor of the same size is not seen)."""
    shape, classes = tuple(payload["shape"]), payload["num_classes"]
    if shape != tuple(trainer.data.shape) or classes != trainer.num_classes:
        raise ValueError(
            f"{where}: trained on samples of shape {shape} with num_classes={classes}; this "
            f"run's data has shape {tuple(trainer.data.shape)} and num_classes="
            f"{trainer.num_classes}. Resume with the same data, or start over with --fresh "
            "(resume=False)"
        )


def restore_trainer(trainer: Trainer, path: str | Path) -> None:
    """Restore a checkpoint written by `save`; the config must match the trainer's."""
    payload = load_checkpoint(path, trainer.device)
    where = f"checkpoint {str(path)!r}"
    check_trainer_payload(payload, where, RESUME_KEYS)
    # Normalise through the dataclasses, so keys added since the file was written compare
    # equal to their defaults.
    saved = TrainConfig.from_dict(payload["config"]).to_dict()
    differences = trajectory_differences(saved, trainer.config.to_dict())
    if differences:
        raise ValueError(
            f"checkpoint {str(path)!r}: this run's config differs from the checkpoint's in "
            f"keys that change the training trajectory: {'; '.join(differences)}. Resume "
            "with the checkpoint's values, or start a new run with --fresh (resume=False) "
            "or another --out"
        )
    saved_world = int(payload.get("world_size", 1))
    if saved_world != trainer.dist.world_size:
        raise ValueError(
            f"checkpoint {str(path)!r}: written by {saved_world} process(es); exact resume "
            f"needs the same world size, this run has {trainer.dist.world_size}"
        )
    _check_same_data(trainer, payload, where)
    if trainer.sharded:
        from energykit.train.fsdp import load_full_state

        load_full_state(trainer.model, payload["model"], trainer.optimizer, payload["optimizer"])
        load_full_state(trainer.ema.model, payload["ema"])
    else:
        check_weights_fit(trainer.model, payload["model"], where)
        trainer.model.load_state_dict(payload["model"])
        trainer.ema.model.load_state_dict(payload["ema"])
        # Files written before the fused optimiser: set the flag before loading, since
        # torch places Adam's step counters by it (on the device when fused).
        for group in payload["optimizer"]["param_groups"]:
            group["fused"], group["foreach"] = trainer.fused or None, None
        trainer.optimizer.load_state_dict(payload["optimizer"])
    trainer.ema.load_counters(payload.get("ema_counters") or _old_counters(trainer, payload))
    rng = payload.get("rng_ranks", [payload["rng"]])[trainer.dist.rank]
    trainer.prefetch.discard()  # a batch drawn ahead from the old state
    torch.set_rng_state(rng["torch"].cpu())
    trainer.data_gen.set_state(rng["data"].cpu())
    trainer.noise_gen.set_state(rng["noise"].cpu())
    if "cuda" in rng and trainer.device.type == "cuda":
        torch.cuda.set_rng_state(rng["cuda"].cpu(), trainer.device)
    trainer.step = int(payload["step"])
    trainer.saved_step = trainer.step


def _old_counters(trainer: Trainer, payload: dict[str, Any]) -> dict[str, Any]:
    """EMA counters of a checkpoint written before they were saved: one update per step."""
    steps = int(payload["step"])
    ema = trainer.ema
    weight = 1.0
    for t in range(steps):
        weight *= warmup_decay(ema.decay, t, ema.warmup)
    return {"updates": steps, "initial_weight": weight}

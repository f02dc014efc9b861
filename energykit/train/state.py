"""What a `Trainer` checkpoint holds and how it is restored: weights, EMA, optimiser, RNG
states of every rank, step; and the optimiser, fused where the device supports it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from energykit._distributed import gather
from energykit._io import UnreadableFileError
from energykit.train.checkpoint import CHECKPOINT_FORMAT, intact_checkpoints, load_checkpoint
from energykit.train.config import TrainConfig
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
        "data": trainer.data_gen.get_state(),
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
        "optimizer": optim_state,
        "rng": rng,
        "rng_ranks": ranks,
        "world_size": trainer.dist.world_size,
    }


def restore_trainer(trainer: Trainer, path: str | Path) -> None:
    """Restore a checkpoint written by `save`; the config must match the trainer's."""
    payload = load_checkpoint(path, trainer.device)
    if payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"checkpoint {str(path)!r}: not an energykit Trainer checkpoint")
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
    if trainer.sharded:
        from energykit.train.fsdp import load_full_state

        load_full_state(trainer.model, payload["model"], trainer.optimizer, payload["optimizer"])
        load_full_state(trainer.ema.model, payload["ema"])
    else:
        trainer.model.load_state_dict(payload["model"])
        trainer.ema.model.load_state_dict(payload["ema"])
        # Files written before the fused optimiser: set the flag before loading, since
        # torch places Adam's step counters by it (on the device when fused).
        for group in payload["optimizer"]["param_groups"]:
            group["fused"], group["foreach"] = trainer.fused or None, None
        trainer.optimizer.load_state_dict(payload["optimizer"])
    rng = payload.get("rng_ranks", [payload["rng"]])[trainer.dist.rank]
    torch.set_rng_state(rng["torch"].cpu())
    trainer.data_gen.set_state(rng["data"].cpu())
    trainer.noise_gen.set_state(rng["noise"].cpu())
    if "cuda" in rng and trainer.device.type == "cuda":
        torch.cuda.set_rng_state(rng["cuda"].cpu(), trainer.device)
    trainer.step = int(payload["step"])
    trainer.saved_step = trainer.step

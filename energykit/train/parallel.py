"""A `Trainer`'s devices and distributed wrapping: DDP, or FSDP2 sharding of model and EMA."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import torch
from torch import nn

from energykit.train.device import device_and_rank

if TYPE_CHECKING:
    from energykit.train.trainer import Trainer


def init_devices(trainer: Trainer) -> None:
    """Set the trainer's device, process group (under torchrun) and per-rank batch sizes.

    Raises:
        ValueError: `train.batch` is not a multiple of world size x `train.grad_accum`.
    """
    t = trainer.config.train
    trainer.device, trainer.dist = device_and_rank(t.device, "train.device")
    split = trainer.dist.world_size * t.grad_accum
    if t.batch % split:
        raise ValueError(
            f"train.batch: expected a multiple of world size x grad_accum = "
            f"{trainer.dist.world_size} x {t.grad_accum} (the global batch is split across "
            f"ranks, then into micro-batches), got {t.batch}"
        )
    trainer.local_batch = t.batch // trainer.dist.world_size
    trainer.micro_batch = trainer.local_batch // t.grad_accum


def wrap_parallel(trainer: Trainer, custom: bool) -> None:
    """Set `trainer.wrapped` (what the loss calls), `trainer.sharded`, and for a user's net
    under FSDP `trainer._template` (an unsharded CPU copy to gather the EMA into).

    DDP averages gradients; every rank draws its own batches and noise (rank 0 draws exactly
    what a single-process run draws). FSDP2 shards weights, EMA and optimiser.

    Raises:
        ValueError: FSDP with in-training evaluation (`train.eval_every`).
    """
    trainer.wrapped = trainer.model
    trainer.sharded = trainer.dist.active and trainer.config.train.parallel == "fsdp"
    trainer._template = copy.deepcopy(trainer.model).cpu() if custom and trainer.sharded else None
    if trainer.sharded:
        from energykit.train.fsdp import shard_model

        if trainer.evaluate is not None:
            raise ValueError(
                "train.eval_every: in-training evaluation is not available with "
                "train.parallel=fsdp; set train.eval_every=0 and evaluate with `energykit sample`"
            )
        shard_model(trainer.model)
        shard_model(trainer.ema.model)
    elif trainer.dist.active:
        from torch.nn.parallel import DistributedDataParallel

        ids = [trainer.device.index] if trainer.device.type == "cuda" else None
        trainer.wrapped = DistributedDataParallel(trainer.model, device_ids=ids)


def compile_backbone(trainer: Trainer) -> nn.Module:
    """What the loss calls: `trainer.wrapped`, compiled when `train.compile` is set.

    The DDP wrapper (or the FSDP2-sharded model) is compiled, as torch recommends (DDP's
    bucketing splits the graph, `DDPOptimizer`); `trainer.model` stays the plain module, so
    optimiser, EMA and checkpoints see its parameter names (no `_orig_mod.` prefix) and a
    compiled run and an eager run resume each other. Explicit-energy heads are refused by
    the config (`train.compile`): torch.compile does not support their double backward.
    """
    if not trainer.config.train.compile:
        return trainer.wrapped
    compiled: nn.Module = torch.compile(trainer.wrapped)  # type: ignore[assignment]
    return compiled

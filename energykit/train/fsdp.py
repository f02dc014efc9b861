"""FSDP2 (`torch.distributed.fsdp.fully_shard`) for `Trainer` (`train.parallel: fsdp`).

Each transformer block (or, for other nets, the whole model) becomes one sharded unit; the
EMA copy is sharded the same way, so its update stays local. Checkpoints hold full (gathered)
state dicts, so they load into unsharded models, `energykit sample` and other world sizes'
weights (exact resume still needs the same world size, for the per-rank RNG states).

Refused for explicit-energy heads (double backward): see `energykit.train.config.validate`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def shard_model(model: nn.Module) -> nn.Module:
    """Shard `model` in place across the default process group: each block in
    `model.blocks` (DiT), then the root."""
    from torch.distributed.fsdp import fully_shard

    for block in getattr(model, "blocks", []):
        fully_shard(block)
    fully_shard(model)
    return model


def _options(all_ranks: bool = False) -> Any:
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    # With cpu_offload, only rank 0 receives the tensors (the others get an empty dict).
    return StateDictOptions(full_state_dict=True, cpu_offload=not all_ranks)


def full_model_state(model: nn.Module, *, all_ranks: bool = False) -> dict[str, Any]:
    """The gathered state dict of a sharded model (a collective: every rank calls it): on
    rank 0 only, in CPU memory (for checkpoints), or with `all_ranks` on every rank, on the
    device."""
    from torch.distributed.checkpoint.state_dict import get_model_state_dict

    return get_model_state_dict(model, options=_options(all_ranks))


def full_optimizer_state(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """The gathered optimiser state, keyed by parameter name (collective)."""
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

    return get_optimizer_state_dict(model, optimizer, options=_options())


def load_full_state(
    model: nn.Module,
    state: dict[str, Any],
    optimizer: torch.optim.Optimizer | None = None,
    optim_state: dict[str, Any] | None = None,
) -> None:
    """Load gathered states (from `full_model_state` / `full_optimizer_state`) into a
    sharded model and optimiser; every rank passes the full dicts."""
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        set_model_state_dict,
        set_optimizer_state_dict,
    )

    options = StateDictOptions(full_state_dict=True)
    set_model_state_dict(model, state, options=options)
    if optimizer is not None and optim_state is not None:
        set_optimizer_state_dict(model, optimizer, optim_state, options=options)


__all__ = ["full_model_state", "full_optimizer_state", "load_full_state", "shard_model"]

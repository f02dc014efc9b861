"""How a run is spread over devices: `Parallel` (the device, the process group under
`torchrun`, the per-rank and micro-batch sizes, DDP or FSDP2) and what it does to modules.

DDP averages gradients; every rank draws its own batches and noise (rank 0 draws exactly what
a single-process run draws). FSDP2 (`train.parallel: fsdp`, `fully_shard`) makes each
transformer block (or, for other nets, the whole model) one sharded unit, and shards the EMA
copy the same way, so its update stays local. Checkpoints hold full (gathered) state dicts,
so they load into unsharded models, `energykit sample` and other world sizes' weights (exact
resume still needs the same world size, for the per-rank RNG states). Explicit-energy heads
(double backward) are refused with FSDP by the config.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from energykit._distributed import DistInfo
from energykit.train.config import LoopConfig
from energykit.train.device import device_and_rank


@dataclass(frozen=True)
class Parallel:
    """The devices and process group of one run, and the batch split they imply.

    Attributes:
        device: This rank's training device.
        dist: The process group (`DistInfo`; world size 1 outside `torchrun`).
        local_batch: Samples per rank per step (`train.batch / world_size`).
        micro_batch: Samples per forward pass (`local_batch / train.grad_accum`).
        sharded: FSDP2 (`train.parallel: fsdp` under `torchrun`); otherwise DDP when the
            group is active.
        compile: `torch.compile` what the loss calls (`train.compile`).
    """

    device: torch.device
    dist: DistInfo
    local_batch: int
    micro_batch: int
    sharded: bool
    compile: bool = False

    @classmethod
    def create(cls, loop: LoopConfig) -> Parallel:
        """Join the process group (under torchrun) and split `train.batch` over it.

        Raises:
            ConfigError: `train.device` is not available here.
            ValueError: `train.batch` is not a multiple of world size x `train.grad_accum`.
        """
        device, dist = device_and_rank(loop.device, "train.device")
        split = dist.world_size * loop.grad_accum
        if loop.batch % split:
            raise ValueError(
                f"train.batch: expected a multiple of world size x grad_accum = "
                f"{dist.world_size} x {loop.grad_accum} (the global batch is split across "
                f"ranks, then into micro-batches), got {loop.batch}"
            )
        local = loop.batch // dist.world_size
        sharded = dist.active and loop.parallel == "fsdp"
        return cls(device, dist, local, local // loop.grad_accum, sharded, loop.compile)

    def wrap(self, model: nn.Module, ema_model: nn.Module, *, evaluates: bool) -> nn.Module:
        """What the loss calls, before compilation (`compiled`): `model` itself, or its DDP
        wrapper; under FSDP, `model` and `ema_model` are sharded in place.

        Raises:
            ValueError: FSDP with in-training evaluation (`evaluates`).
        """
        wrapped = model
        if self.sharded:
            if evaluates:
                raise ValueError(
                    "train.eval_every: in-training evaluation is not available with "
                    "train.parallel=fsdp; set train.eval_every=0 and evaluate with "
                    "`energykit sample`"
                )
            _shard(model)
            _shard(ema_model)
        elif self.dist.active:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            wrapped = DistributedDataParallel(model, device_ids=ids)
        return wrapped

    def compiled(self, wrapped: nn.Module) -> nn.Module:
        """`wrapped`, compiled when `compile` is set: the DDP wrapper (or the sharded model),
        as torch recommends, while the model stays the plain module, so optimiser, EMA and
        checkpoints see its parameter names (no `_orig_mod.` prefix) and a compiled run and
        an eager run resume each other. Explicit-energy heads are refused by the config
        (`train.compile`): torch.compile does not support their double backward."""
        if not self.compile:
            return wrapped
        compiled: nn.Module = torch.compile(wrapped)  # type: ignore[assignment]
        return compiled

    def no_sync(self, wrapped: nn.Module, last: bool) -> AbstractContextManager[Any]:
        """Skip the gradient reduction on all but the `last` micro-batch of a step (`wrapped`
        as `wrap` returned it, before compilation: the DDP wrapper or the sharded model)."""
        if self.sharded:
            wrapped.set_requires_gradient_sync(last)  # type: ignore[operator]
            return nullcontext()
        if last or not self.dist.active:
            return nullcontext()
        return wrapped.no_sync()  # type: ignore[operator]

    def reduce_flag(self, flag: Tensor) -> None:
        """Take the maximum of a 0-d device flag over ranks, in place (FSDP ranks see
        gradient shards, DDP ranks their own loss)."""
        if self.dist.active:
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)

    def model_state(self, module: nn.Module, *, all_ranks: bool = False) -> dict[str, Any]:
        """`module.state_dict()`; under FSDP the gathered one (a collective: every rank calls
        it), on rank 0 only in CPU memory, or with `all_ranks` on every rank's device."""
        if not self.sharded:
            return module.state_dict()
        from torch.distributed.checkpoint.state_dict import get_model_state_dict

        return get_model_state_dict(module, options=_options(all_ranks))

    def gathered(self, sharded: nn.Module, blank: nn.Module) -> nn.Module:
        """`blank` (an unsharded module of the same architecture) holding the full weights
        of the FSDP-`sharded` module, on the device, in eval mode (collective)."""
        blank.load_state_dict(self.model_state(sharded, all_ranks=True))
        return blank.to(self.device).eval()

    def optimizer_state(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> Any:
        """`optimizer.state_dict()`; under FSDP the gathered one, keyed by parameter name."""
        if not self.sharded:
            return optimizer.state_dict()
        from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

        return get_optimizer_state_dict(model, optimizer, options=_options())

    def load_model_state(self, module: nn.Module, state: dict[str, Any]) -> None:
        """Load a full state dict (every rank passes all of it under FSDP)."""
        if not self.sharded:
            module.load_state_dict(state)
            return
        from torch.distributed.checkpoint.state_dict import set_model_state_dict

        set_model_state_dict(module, state, options=_full())

    def load_optimizer_state(
        self, model: nn.Module, optimizer: torch.optim.Optimizer, state: Any
    ) -> None:
        """Load a full optimiser state (as `optimizer_state` returned it)."""
        if not self.sharded:
            optimizer.load_state_dict(state)
            return
        from torch.distributed.checkpoint.state_dict import set_optimizer_state_dict

        set_optimizer_state_dict(model, optimizer, state, options=_full())


def _shard(model: nn.Module) -> None:
    """Shard `model` in place across the default process group: each block in
    `model.blocks` (DiT), then the root."""
    from torch.distributed.fsdp import fully_shard

    for block in getattr(model, "blocks", []):
        fully_shard(block)
    fully_shard(model)


def _options(all_ranks: bool = False) -> Any:
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    # With cpu_offload, only rank 0 receives the tensors (the others get an empty dict).
    return StateDictOptions(full_state_dict=True, cpu_offload=not all_ranks)


def _full() -> Any:
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=True)


__all__ = ["Parallel"]

"""What a training run is at one step, `TrainState`: model, EMA, optimiser, the data and noise
generators, the step; saved and restored as data, so stopping at step k and resuming gives
the same weights, bit for bit, as an uninterrupted run (on CPU)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from energykit._distributed import gather
from energykit.train.ema import EMA
from energykit.train.parallel import Parallel
from energykit.train.prefetch import BatchPrefetcher, BatchSource

#: Seeds of rank r are the single-process seeds plus r times this.
RANK_SEED_STRIDE = 1_000_003

#: What `TrainState.load_state_dict` reads from a checkpoint.
STATE_KEYS = (
    "step",
    "model",
    "ema",
    "ema_counters",
    "optimizer",
    "rng_ranks",
    "world_size",
    "device_type",
)


@dataclass(eq=False)
class TrainState:
    """The trained objects and every random state a step draws from.

    Attributes:
        model: The backbone being trained (the plain module, also under DDP or FSDP).
        ema: Its moving average.
        optimizer: Over `model`'s parameters.
        fused: The optimiser is fused (its step reads the divergence flag on the device).
        batches: Draws the micro-batches from the CPU data generator (`batches.generator`),
            one ahead when prefetching.
        noise_gen: Levels, noise and label dropout, on the training device.
        step: Optimiser steps taken.
    """

    model: nn.Module
    ema: EMA
    optimizer: torch.optim.Optimizer
    fused: bool
    batches: BatchPrefetcher
    noise_gen: torch.Generator
    step: int = 0

    @classmethod
    def create(
        cls,
        model: nn.Module,
        ema: EMA,
        optimizer: tuple[torch.optim.Optimizer, bool],
        data: BatchSource,
        parallel: Parallel,
        *,
        seed: int,
        prefetch: bool,
    ) -> TrainState:
        """The state at step 0: the data generator seeded with `seed` (plus the rank's
        offset `RANK_SEED_STRIDE * rank`), the noise generator with `seed + 1` (likewise, on
        the device); `optimizer` as `(optimizer, fused)`."""
        offset = RANK_SEED_STRIDE * parallel.dist.rank
        device = parallel.device
        data_gen = torch.Generator().manual_seed(seed + offset)
        batches = BatchPrefetcher(data, parallel.micro_batch, data_gen, device, prefetch)
        noise_gen = torch.Generator(device=device).manual_seed(seed + 1 + offset)
        return cls(model, ema, optimizer[0], optimizer[1], batches, noise_gen)

    def state_dict(self, parallel: Parallel) -> dict[str, Any]:
        """Weights, EMA (and its counters), optimiser, step, and the RNG states of every rank
        (a collective under torchrun; under FSDP the weights are gathered to rank 0)."""
        rng: dict[str, Tensor] = {
            "torch": torch.get_rng_state(),
            "data": self.batches.generator_state(),  # before a batch drawn ahead
            "noise": self.noise_gen.get_state(),
        }
        if parallel.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(parallel.device)
        ranks = gather({k: v.cpu() for k, v in rng.items()}, parallel.dist)  # collective
        return {
            "step": self.step,
            "model": parallel.model_state(self.model),
            "ema": parallel.model_state(self.ema.model),
            "ema_counters": self.ema.counters(),
            "optimizer": parallel.optimizer_state(self.model, self.optimizer),
            "rng_ranks": ranks,
            "world_size": parallel.dist.world_size,
            "device_type": parallel.device.type,
        }

    def load_state_dict(self, payload: dict[str, Any], parallel: Parallel) -> None:
        """Restore what `state_dict` returned (checked by `energykit.train.resume` first: same
        config, world size, data and weight names)."""
        parallel.load_model_state(self.model, payload["model"])
        parallel.load_model_state(self.ema.model, payload["ema"])
        parallel.load_optimizer_state(self.model, self.optimizer, payload["optimizer"])
        self.ema.load_counters(payload["ema_counters"])
        rng = payload["rng_ranks"][parallel.dist.rank]
        self.batches.discard()  # a batch drawn ahead from the old state
        torch.set_rng_state(rng["torch"].cpu())
        self.batches.generator.set_state(rng["data"].cpu())
        self.noise_gen.set_state(rng["noise"].cpu())
        if "cuda" in rng and parallel.device.type == "cuda":
            torch.cuda.set_rng_state(rng["cuda"].cpu(), parallel.device)
        self.step = int(payload["step"])


__all__ = ["RANK_SEED_STRIDE", "STATE_KEYS", "TrainState"]

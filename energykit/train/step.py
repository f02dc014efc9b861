"""One training step, with no host-device synchronisation unless it logs.

The step's loss, gradient norm and divergence flag stay on the device as 0-d tensors; the
`Trainer` reads them back only on log, evaluation and checkpoint steps. What `train_step`
does:

1. `grad_accum` micro-batch losses from `loss_fn` (`MicroLoss`: each draws its batch from
   the prefetcher, `energykit.train.prefetch`, and its levels, noise and label dropout from
   the device's noise generator; bf16 autocast when `train.bf16`, while weights, gradients
   and optimiser state stay float32), each backpropagated;
2. the divergence guard's check of the loss and gradients (`energykit.train.guard`);
3. clipping (`clip_grad_norm_`, whose norm stays on the device) or, on logged steps only,
   the gradient norm;
4. the optimiser step, fused where supported, skipped on the device when the guard's flag
   is set, then the EMA update (skipped likewise).

The data were validated when the data source was built, so the losses' per-call finiteness
check of `x` is skipped here (`energykit._checks.checked_data`); on the CPU it would read one
value back per step.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from energykit._checks import checked_data
from energykit.objectives import EqMLoss, FlowMatchingLoss, objective_kind
from energykit.train.build import build_objective
from energykit.train.config import TrainConfig
from energykit.train.guard import DivergenceGuard
from energykit.train.parallel import Parallel
from energykit.train.prefetch import BatchPrefetcher
from energykit.train.state import TrainState

#: The loss of one micro-batch, drawn from the run's generators (a 0-d float32 tensor).
LossFn = Callable[[], Tensor]


def train_step(
    state: TrainState,
    loss_fn: LossFn,
    guard: DivergenceGuard,
    parallel: Parallel,
    wrapped: nn.Module,
    *,
    grad_accum: int,
    grad_clip: float | None,
    logged: bool,
) -> dict[str, Tensor]:
    """One optimiser step over `grad_accum` micro-batches; advances `state.step`.

    Args:
        state: Model, EMA, optimiser and step.
        loss_fn: The loss of the next micro-batch.
        guard: The divergence guard (`check`ed with this step's loss and gradients).
        parallel: Reduces the guard's flag over ranks; skips the gradient reduction on all
            micro-batches but the last (`no_sync` of `wrapped`).
        wrapped: What `Parallel.wrap` returned.
        grad_accum: Micro-batches per step.
        grad_clip: Clip the gradient norm to this (`None`: no clipping).
        logged: The step is logged, so the gradient norm is computed even without clipping.

    Returns:
        0-d device tensors: the mean `loss`, and `grad_norm` when clipping or `logged`.
    """
    state.model.train()
    state.optimizer.zero_grad(set_to_none=True)
    total = torch.zeros((), device=parallel.device)
    with checked_data():
        for i in range(grad_accum):
            with parallel.no_sync(wrapped, last=i == grad_accum - 1):
                loss = loss_fn()
                total += loss.detach()
                (loss / grad_accum).backward()
    grads = [p.grad for p in state.model.parameters() if p.grad is not None]
    flag = guard.check(state.step + 1, total, grads)
    parallel.reduce_flag(flag)
    stats = {"loss": total / grad_accum}
    if grad_clip is not None:  # the norm and the scaling stay on the device
        stats["grad_norm"] = torch.nn.utils.clip_grad_norm_(state.model.parameters(), grad_clip)
    elif logged:  # a pass over the gradients, only where it is logged
        stats["grad_norm"] = torch.nn.utils.get_total_norm(grads)
    _apply(state, flag, guard)
    state.step += 1
    return stats


def _apply(state: TrainState, flag: Tensor, guard: DivergenceGuard) -> None:
    """The optimiser step and the EMA update, both skipped when the guard's flag is set."""
    if state.fused:  # no-op on the device when the flag is set (GradScaler's protocol)
        state.optimizer.found_inf = flag  # type: ignore[attr-defined]
        state.optimizer.grad_scale = None  # type: ignore[attr-defined]
        state.optimizer.step()
        state.ema.update(state.model, skip=flag)
    elif not guard.tripped():  # one host sync, only without a fused optimiser
        state.optimizer.step()
        state.ema.update(state.model)


@dataclass(eq=False)
class MicroLoss:
    """The loss of one micro-batch, float32: `objective(target, x, ...)` on the next batch.

    Attributes:
        objective: The training loss (`EqMLoss`, `FlowMatchingLoss`).
        target: What the objective is called with (the field for EqM, the net for FM),
            over the wrapped and possibly compiled backbone.
        batches: The micro-batches.
        noise_gen: Levels, noise and label dropout.
        num_classes: Classes of a class-conditional model (label dropout draws the null
            label `num_classes`), else `None`.
        label_dropout: Probability of the null label.
        bf16: Run the forward pass under bf16 autocast.
        ddp_params: Under DDP with an explicit-energy head, the model's parameters:
            parameters that do not reach $\\nabla_x E$ (e.g. the last bias) get no gradient
            and DDP would wait for them forever, so a zero-weighted term lets them take part.
    """

    objective: EqMLoss | FlowMatchingLoss
    target: Any
    batches: BatchPrefetcher
    noise_gen: torch.Generator
    num_classes: int | None
    label_dropout: float
    bf16: bool
    ddp_params: list[nn.Parameter] | None = None

    @classmethod
    def create(
        cls,
        config: TrainConfig,
        wrapped: nn.Module,
        state: TrainState,
        num_classes: int | None,
        parallel: Parallel,
    ) -> MicroLoss:
        """The loss of a run of `config`: its objective over `wrapped` (the field of its
        kind for EqM, the net for FM), drawing from `state`'s generators."""
        target = objective_kind(config.objective.kind).loss_target(wrapped)
        explicit = bool(getattr(target, "has_energy", False))
        return cls(
            build_objective(config.objective),
            target,
            state.batches,
            state.noise_gen,
            num_classes,
            config.data.label_dropout,
            config.train.bf16,
            list(state.model.parameters()) if parallel.dist.active and explicit else None,
        )

    def __call__(self) -> Tensor:
        x, y = self.batches.next()
        cond: dict[str, Tensor] = {}
        if self.num_classes is not None and y is not None:
            drop = torch.rand(y.shape, generator=self.noise_gen, device=x.device)
            null = torch.full_like(y, self.num_classes)
            cond["y"] = torch.where(drop < self.label_dropout, null, y)
        autocast = (
            torch.autocast(x.device.type, dtype=torch.bfloat16) if self.bf16 else nullcontext()
        )
        with autocast:
            out = self.objective(self.target, x, generator=self.noise_gen, **cond)
        loss = out.loss.float()  # a no-op unless the loss came out in bfloat16
        if self.ddp_params is not None:
            loss = loss + 0.0 * sum(p.sum() for p in self.ddp_params)
        return loss


__all__ = ["LossFn", "MicroLoss", "train_step"]

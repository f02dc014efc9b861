"""One training step of a `Trainer`, with no host-device synchronisation unless it logs.

The step's loss, gradient norm and divergence flag stay on the device as 0-d tensors; the
`Trainer` reads them back only on log, evaluation and checkpoint steps. What the step does:

1. `train.grad_accum` micro-batches, each drawn by the prefetcher (`energykit.train.prefetch`)
   and its levels, noise and label dropout from the device's noise generator; the loss under
   bf16 autocast when `train.bf16` (weights, gradients and optimiser state stay float32);
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

from contextlib import nullcontext
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from energykit._checks import checked_data

if TYPE_CHECKING:
    from energykit.train.trainer import Trainer


def take_step(trainer: Trainer, logged: bool) -> dict[str, Tensor]:
    """One optimiser step; returns 0-d device tensors: the mean `loss`, and `grad_norm` when
    clipping (which computes it anyway) or when `logged`."""
    accum = trainer.config.train.grad_accum
    trainer.model.train()
    trainer.optimizer.zero_grad(set_to_none=True)
    total = torch.zeros((), device=trainer.device)
    with checked_data():
        for i in range(accum):
            with trainer._no_sync(last=i == accum - 1):
                loss = trainer._micro_loss()
                total += loss.detach()
                (loss / accum).backward()
    grads = [p.grad for p in trainer.model.parameters() if p.grad is not None]
    flag = trainer.guard.check(trainer.step + 1, total, grads)
    if trainer.dist.active:  # FSDP ranks see gradient shards, DDP ranks their own loss
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
    stats = {"loss": total / accum}
    clip = trainer.config.optim.grad_clip
    if clip is not None:  # the norm and the scaling stay on the device
        stats["grad_norm"] = torch.nn.utils.clip_grad_norm_(trainer.model.parameters(), clip)
    elif logged:  # a pass over the gradients, only where it is logged
        stats["grad_norm"] = torch.nn.utils.get_total_norm(grads)
    _apply(trainer, flag)
    trainer.step += 1
    return stats


def _apply(trainer: Trainer, flag: Tensor) -> None:
    """The optimiser step and the EMA update, both skipped when the guard's flag is set."""
    if trainer.fused:  # no-op on the device when the flag is set (GradScaler's protocol)
        trainer.optimizer.found_inf = flag  # type: ignore[attr-defined]
        trainer.optimizer.grad_scale = None  # type: ignore[attr-defined]
        trainer.optimizer.step()
        trainer.ema.update(trainer.model, skip=flag)
    elif not trainer.guard.tripped():  # one host sync, only without a fused optimiser
        trainer.optimizer.step()
        trainer.ema.update(trainer.model)


def micro_loss(trainer: Trainer) -> Tensor:
    """The loss of one micro-batch (drawn from the data and noise generators), float32."""
    cfg = trainer.config
    x, y = trainer.prefetch.next()
    cond: dict[str, Tensor] = {}
    classes = trainer.num_classes
    if classes is not None and y is not None:
        drop = torch.rand(y.shape, generator=trainer.noise_gen, device=trainer.device)
        cond["y"] = torch.where(drop < cfg.data.label_dropout, torch.full_like(y, classes), y)
    autocast = (
        torch.autocast(trainer.device.type, dtype=torch.bfloat16)
        if cfg.train.bf16
        else nullcontext()
    )
    with autocast:
        out = trainer.objective(trainer.target, x, generator=trainer.noise_gen, **cond)
    loss = out.loss.float()  # a no-op unless the loss came out in bfloat16
    if trainer.dist.active and trainer.explicit_energy:
        # Parameters that do not reach grad_x E (e.g. the last bias) get no gradient and
        # DDP would wait for them forever; a zero-weighted term lets them take part.
        loss = loss + 0.0 * sum(p.sum() for p in trainer.model.parameters())
    return loss

"""Exponential moving average of a model's parameters (the weights used for sampling), with an
optional warm-up of its decay."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor, nn

#: The warm-up's offset: $d_t = \min(d, (1 + t) / (10 + t))$ (TensorFlow's
#: `ExponentialMovingAverage(num_updates=t)` schedule).
WARMUP_OFFSET = 10


def warmup_decay(decay: float, updates: int, warmup: bool) -> float:
    """The decay of update number `updates` (0-based): $d_t = \\min(d, (1 + t)/(10 + t))$
    with warm-up, $d$ without.

    With warm-up the first update keeps 1/10 of the initial copy and the average soon
    covers roughly the last 10% of the steps taken; from $t = (10d - 1)/(1 - d)$ on (8,990
    updates for $d = 0.999$) it is the plain EMA.
    """
    if not warmup:
        return decay
    return min(decay, (1 + updates) / (WARMUP_OFFSET + updates))


class EMA(nn.Module):
    """$\\bar\\theta \\leftarrow d_t\\, \\bar\\theta + (1 - d_t)\\, \\theta$ after every step;
    buffers are copied. It starts as an exact copy of the model (as in the paper's recipe).

    Without warm-up $d_t = d$, so after $T$ updates the initial copy still weighs $d^T$
    (0.67 after 400 steps at $d = 0.999$: a short run samples mostly its random
    initialisation). With warm-up $d_t = \\min(d, (1 + t)/(10 + t))$ and the initial copy
    weighs $\\prod_{t<T} d_t = 9!\\,T!/(T + 9)!$, below $10^{-4}$ after 20 updates.
    `initial_weight` records that product (a checkpoint holds it, and `energykit sample`
    warns when it is above 1/2).

    Args:
        model: The model being trained.
        decay: $d \\in [0, 1)$; 0 keeps a plain copy of the latest weights.
        warmup: Use the warm-up schedule above.
    """

    def __init__(self, model: nn.Module, decay: float, warmup: bool = False) -> None:
        super().__init__()
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay: expected a value in [0, 1), got {decay}")
        self.decay = float(decay)
        self.warmup = bool(warmup)
        #: Updates applied so far (counted on the host: no device read per step).
        self.updates = 0
        #: $\\prod_t d_t$, the weight the initial copy still has in the average.
        self.initial_weight = 1.0
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    def current_decay(self) -> float:
        """$d_t$ of the next update."""
        return warmup_decay(self.decay, self.updates, self.warmup)

    def counters(self) -> dict[str, Any]:
        """The host-side state a checkpoint holds: `updates` and `initial_weight`."""
        return {"updates": self.updates, "initial_weight": self.initial_weight}

    def load_counters(self, state: dict[str, Any]) -> None:
        """Restore `counters()`."""
        self.updates = int(state["updates"])
        self.initial_weight = float(state["initial_weight"])

    @torch.no_grad()
    def update(self, model: nn.Module, skip: Tensor | None = None) -> None:
        """Move the average toward `model`'s current weights (one foreach operation).

        Args:
            model: The trained model.
            skip: A 0-d device tensor; where it is nonzero the update is a no-op (the
                divergence guard's flag: a skipped training step must not move the EMA
                either). Read on the device, so it costs no host sync. The host counters
                still advance (the run raises at its next log or checkpoint step anyway).
        """
        decay = self.current_decay()
        self.updates += 1
        self.initial_weight *= decay
        ema_params = dict(self.model.named_parameters())
        names = [name for name, _ in model.named_parameters()]
        targets: list[Tensor] = [ema_params[name] for name in names]
        sources = [p.detach() for _, p in model.named_parameters()]
        if skip is None:
            torch._foreach_lerp_(targets, sources, 1.0 - decay)
        else:
            # One weight tensor per parameter (broadcast views), so the weight stays on the
            # device: a single 0-d tensor would be read back with `.item()`.
            weight = (1.0 - skip.float()) * (1.0 - decay)
            torch._foreach_lerp_(targets, sources, [weight.expand_as(t) for t in targets])
        ema_buffers = dict(self.model.named_buffers())
        for name, b in model.named_buffers():
            if skip is None:
                ema_buffers[name].copy_(b)
            else:
                ema_buffers[name].copy_(torch.where(skip > 0, ema_buffers[name], b))

"""Exponential moving average of a model's parameters (the weights used for sampling)."""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn


class EMA(nn.Module):
    """$\\bar\\theta \\leftarrow d\\, \\bar\\theta + (1 - d)\\, \\theta$ after every step; buffers
    are copied. It starts as an exact copy of the model (as in the paper's recipe).

    Args:
        model: The model being trained.
        decay: $d \\in [0, 1)$; 0 keeps a plain copy of the latest weights.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        super().__init__()
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay: expected a value in [0, 1), got {decay}")
        self.decay = float(decay)
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, skip: Tensor | None = None) -> None:
        """Move the average toward `model`'s current weights (one foreach operation).

        Args:
            model: The trained model.
            skip: A 0-d device tensor; where it is nonzero the update is a no-op (the
                divergence guard's flag: a skipped training step must not move the EMA
                either). Read on the device, so it costs no host sync.
        """
        ema_params = dict(self.model.named_parameters())
        names = [name for name, _ in model.named_parameters()]
        targets: list[Tensor] = [ema_params[name] for name in names]
        sources = [p.detach() for _, p in model.named_parameters()]
        if skip is None:
            torch._foreach_lerp_(targets, sources, 1.0 - self.decay)
        else:
            # One weight tensor per parameter (broadcast views), so the weight stays on the
            # device: a single 0-d tensor would be read back with `.item()`.
            weight = (1.0 - skip.float()) * (1.0 - self.decay)
            torch._foreach_lerp_(targets, sources, [weight.expand_as(t) for t in targets])
        ema_buffers = dict(self.model.named_buffers())
        for name, b in model.named_buffers():
            if skip is None:
                ema_buffers[name].copy_(b)
            else:
                ema_buffers[name].copy_(torch.where(skip > 0, ema_buffers[name], b))

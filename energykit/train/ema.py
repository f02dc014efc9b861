"""Exponential moving average of a model's parameters (the weights used for sampling)."""

from __future__ import annotations

import copy

import torch
from torch import nn


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
    def update(self, model: nn.Module) -> None:
        """Move the average toward `model`'s current weights."""
        ema_params = dict(self.model.named_parameters())
        for name, p in model.named_parameters():
            ema_params[name].lerp_(p.detach(), 1.0 - self.decay)
        ema_buffers = dict(self.model.named_buffers())
        for name, b in model.named_buffers():
            ema_buffers[name].copy_(b)

"""Gradient-magnitude schedules $c(\\gamma)$ for the EqM target $(\\epsilon - x)\\,c(\\gamma)$.

EqM needs $c(1) = 0$: the landscape is flat (an equilibrium) on the data. `Constant` breaks that
on purpose; it gives noise-unconditional flow matching, the paper's ablation baseline.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import Tensor

from energykit._checks import check_real

#: The paper's defaults (Section 5: truncated decay with a = 0.8 and multiplier 4 is best).
DEFAULT_A = 0.8
DEFAULT_SCALE = 4.0


class Schedule(ABC):
    """A map $\\gamma \\mapsto c(\\gamma)$, applied elementwise to a `(B,)` tensor."""

    @abstractmethod
    def __call__(self, gamma: Tensor) -> Tensor:
        """$c(\\gamma)$ for `gamma` of shape `(B,)`."""


def _check_a(name: str, a: float) -> float:
    a = check_real(f"{name} a", a)
    if not 0.0 <= a < 1.0:
        raise ValueError(f"{name} a: expected 0 <= a < 1, got {a}")
    return a


class TruncatedDecay(Schedule):
    """$c(\\gamma) = \\lambda \\min\\!\\left(1, \\frac{1 - \\gamma}{1 - a}\\right)$ (EqM default).

    Args:
        a: Level after which the magnitude decays linearly to 0, in `[0, 1)`.
        scale: Multiplier $\\lambda > 0$.
    """

    def __init__(self, a: float = DEFAULT_A, scale: float = DEFAULT_SCALE) -> None:
        self.a = _check_a("TruncatedDecay", a)
        self.scale = check_real("TruncatedDecay scale", scale, minimum=0.0, strict=True)

    def __call__(self, gamma: Tensor) -> Tensor:
        return self.scale * torch.clamp((1 - gamma) / (1 - self.a), max=1.0)

    def __repr__(self) -> str:
        return f"TruncatedDecay(a={self.a}, scale={self.scale})"


class LinearDecay(Schedule):
    """$c(\\gamma) = \\lambda (1 - \\gamma)$.

    Args:
        scale: Multiplier $\\lambda > 0$.
    """

    def __init__(self, scale: float = DEFAULT_SCALE) -> None:
        self.scale = check_real("LinearDecay scale", scale, minimum=0.0, strict=True)

    def __call__(self, gamma: Tensor) -> Tensor:
        return self.scale * (1 - gamma)

    def __repr__(self) -> str:
        return f"LinearDecay(scale={self.scale})"


class Piecewise(Schedule):
    """$c(\\gamma) = \\lambda (b - (b - 1) \\gamma / a)$ for $\\gamma \\le a$, else
    $\\lambda (1 - \\gamma) / (1 - a)$: linear from $\\lambda b$ to $\\lambda$, then to 0.

    Args:
        a: Breakpoint in `[0, 1)`; must be positive.
        b: Relative magnitude at $\\gamma = 0$, positive.
        scale: Multiplier $\\lambda > 0$.
    """

    def __init__(self, a: float = DEFAULT_A, b: float = 1.4, scale: float = DEFAULT_SCALE):
        self.a = _check_a("Piecewise", a)
        if self.a == 0.0:
            raise ValueError("Piecewise a: expected 0 < a < 1, got 0.0")
        self.b = check_real("Piecewise b", b, minimum=0.0, strict=True)
        self.scale = check_real("Piecewise scale", scale, minimum=0.0, strict=True)

    def __call__(self, gamma: Tensor) -> Tensor:
        head = self.b - (self.b - 1) * gamma / self.a
        tail = (1 - gamma) / (1 - self.a)
        return self.scale * torch.where(gamma <= self.a, head, tail)

    def __repr__(self) -> str:
        return f"Piecewise(a={self.a}, b={self.b}, scale={self.scale})"


class Constant(Schedule):
    """$c(\\gamma) = $ `value`: noise-unconditional flow matching, the ablation baseline.

    Args:
        value: The constant, positive.
    """

    def __init__(self, value: float = 1.0) -> None:
        self.value = check_real("Constant value", value, minimum=0.0, strict=True)

    def __call__(self, gamma: Tensor) -> Tensor:
        return torch.full_like(gamma, self.value)

    def __repr__(self) -> str:
        return f"Constant(value={self.value})"

"""The training-free default sampler for a budget of $K$ evaluations, from the model's
$c(\\gamma)$.

On the plateau of the truncated schedule ($\\gamma < a$) the EqM target is
$\\lambda(\\epsilon - x)$, so a gradient step of size $\\eta$ moves an ideal field's sample from
$\\gamma$ to $\\gamma + \\lambda\\eta$: the plateau is crossed by steps summing to $a / \\lambda$.
In the decay zone ($\\gamma > a$) a step of $(1 - a) / \\lambda$ lands an ideal field's sample on
the data in one step. A trained field is not the ideal one, and the schedule below was fitted
to trained digits models (`docs/fewstep.md`, three training seeds), in those units:

- $K - 1$ equal Adams-Bashforth-2 steps summing to $P_K = p_K \\, a / \\lambda$, with
  $p_K = \\min(1 + \\tfrac14 \\log_2(K / 5), 1.5)$ (0.82 at 3 steps, 1 at 5, 1.25 at 10,
  1.5 from 20): with few steps the plateau is crossed about once (a little less below 5
  steps: that is what measured best), with more
  the descent goes on past it into the basin, which keeps the samples' detail (stopping at
  $a / \\lambda$ with many steps gives smooth samples that sit close to training images);
- one final step of $J_K (1 - a) / \\lambda$ with $J_K = 2 + 0.2 \\max(0, 5 - K)$ (2 from 5
  steps on, 2.4 at 3): the trained field's decay is about half the ideal one's, so the ideal
  jump ($J = 1$) falls short, and more so after fewer plateau steps. The values below 5 steps
  were chosen on seed 0's digits model at 3 steps, checked on seeds 1 and 2, and at 1, 2
  and 4 steps on seed 0 (`docs/fewstep.md`).

At the paper's budget (`PAPER_STEPS`, 250) and above, the default is the paper's sampler,
NAG-GD with step $0.425 / K$ and look-ahead 0.3, so reference parity holds. A field trained
with another $c(\\gamma)$ (or none: analytic and composite fields) gets the generic default
of `budget_lr`, NAG-GD with $0.425 / K$.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from energykit._checks import check_int, check_real
from energykit.descent.budget import PAPER_STEPS, default_lr
from energykit.descent.nag import PAPER_MOMENTUM
from energykit.descent.solver import Solver, multistep_solver

#: Plateau length $p_K$ in units of $a / \\lambda$: `min(1 + PLATEAU_SLOPE log2(K / 5), 1.5)`.
PLATEAU_MAX, PLATEAU_SLOPE = 1.5, 0.25
#: The final step in units of $(1 - a) / \\lambda$: `JUMP + JUMP_SLOPE max(0, 5 - K)`.
JUMP, JUMP_SLOPE = 2.0, 0.2
#: Adams-Bashforth order of the plateau steps.
ORDER = 2
#: Below this budget a calibrated solver measured worse than this default on every digits
#: model (`docs/fewstep.md`): fitting K steps towards the 250-step samples blurs them.
CALIBRATION_MIN_STEPS = 5


@dataclass(frozen=True)
class Landscape:
    """What descent needs to know of the truncated $c(\\gamma) = \\lambda \\min(1, (1 - \\gamma)
    / (1 - a))$ a field was trained with.

    Attributes:
        a: The plateau's edge (the paper's 0.8).
        scale: The multiplier $\\lambda$ (the paper's 4).
    """

    a: float = 0.8
    scale: float = 4.0

    def __post_init__(self) -> None:
        a = check_real("Landscape a", self.a, minimum=0.0, strict=True)
        if a >= 1.0:
            raise ValueError(f"Landscape a: expected a number in (0, 1), got {a}")
        check_real("Landscape scale", self.scale, minimum=0.0, strict=True)


def plateau_length(steps: int) -> float:
    """$p_K$, the plateau's length in units of $a / \\lambda$ for a budget of `steps`."""
    return min(PLATEAU_MAX, 1.0 + PLATEAU_SLOPE * math.log2(steps / 5))


def jump_length(steps: int) -> float:
    """$J_K$, the final step in units of $(1 - a) / \\lambda$ for a budget of `steps`."""
    return JUMP + JUMP_SLOPE * max(0, 5 - steps)


def paper_budget(steps: int, landscape: Landscape | None) -> bool:
    """Whether the default for `steps` is the paper's NAG-GD ($0.425 / K$, look-ahead 0.3):
    at 250 steps and above, and for fields without a known landscape."""
    return landscape is None or check_int("steps", steps, minimum=1) >= PAPER_STEPS


def default_solver(steps: int, landscape: Landscape | None) -> Solver:
    """The training-free sampler for a budget of `steps` evaluations (see the module).

    Args:
        steps: The budget $K$ (evaluations per sample).
        landscape: The field's truncated $c(\\gamma)$, or `None` for the generic default.

    Raises:
        ValueError: `steps` is not a positive int.
    """
    k = check_int("steps", steps, minimum=1)
    if paper_budget(k, landscape):
        return multistep_solver([default_lr(k)] * k, PAPER_MOMENTUM, order=1)
    assert landscape is not None  # `paper_budget` is true without one
    jump = jump_length(k) * (1.0 - landscape.a) / landscape.scale
    if k == 1:
        return multistep_solver([jump], 0.0, order=1)
    plateau = plateau_length(k) * landscape.a / landscape.scale
    return multistep_solver([plateau / (k - 1)] * (k - 1) + [jump], 0.0, order=ORDER)


__all__ = [
    "CALIBRATION_MIN_STEPS",
    "JUMP",
    "ORDER",
    "Landscape",
    "default_solver",
    "jump_length",
    "paper_budget",
    "plateau_length",
]

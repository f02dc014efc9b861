"""The paper's sampler defaults, defined once: the step budget, NAG-GD's look-ahead, and the
descender that every task and sampler uses when the caller names no step.

The best EqM-XL/2 sampler of the paper (Section 5, FID 1.90) is NAG-GD with step
$\\eta = 0.0017$ and look-ahead $\\mu = 0.3$ for $K = 250$ steps. energykit keeps the path
length $\\eta K = 0.425$ fixed when the budget changes, so the default step is
$\\eta = 0.425 / K$: 0.0017 at 250 steps, 0.0085 at 50.
"""

from __future__ import annotations

from typing import Any

from energykit.descent.budget import DEFAULT_STEP_BUDGET, PAPER_STEPS, default_lr
from energykit.descent.descender import Descender

# Step size and look-ahead of the paper's best EqM-XL/2 sampler (Section 5, FID 1.90), defined
# with `NAGGD` (its defaults) and re-exported here, the place to import them from: `nag`
# cannot import this module (it imports the Descender, which imports `nag`).
from energykit.descent.nag import PAPER_LR, PAPER_MOMENTUM
from energykit.descent.resolve import OptimizerSpec
from energykit.descent.schedule import StepSize
from energykit.fields.base import EnergyField

#: Names under which `resolve_optimizer` finds NAG-GD, whose look-ahead defaults to
#: `PAPER_MOMENTUM`.
NAG_NAMES = ("nag", "naggd")


def default_momentum(optimizer: OptimizerSpec, momentum: float | None) -> dict[str, Any]:
    """The optimiser keyword for the look-ahead: `momentum` when given, `PAPER_MOMENTUM`
    (the paper's 0.3) for NAG-GD named as a string, nothing otherwise."""
    if momentum is None and isinstance(optimizer, str) and optimizer in NAG_NAMES:
        momentum = PAPER_MOMENTUM
    return {} if momentum is None else {"momentum": momentum}


def paper_descender(
    field: EnergyField,
    optimizer: OptimizerSpec = "nag",
    *,
    steps: int = PAPER_STEPS,
    lr: StepSize | None = None,
    g_min: float | None = None,
    momentum: float | None = None,
    **kwargs: Any,
) -> Descender:
    r"""A `Descender` with the paper's defaults: the budget's step (`budget_lr`: $0.425 /$
    `steps` for GD, NAG-GD and `Multistep`) unless `lr` is given, NAG-GD's look-ahead
    $\mu = 0.3$ unless `momentum` is given.

    Args:
        field: The landscape.
        optimizer: The optimiser (default the paper's NAG-GD).
        steps: Step budget.
        lr: Step size (a number, per-step sizes or a scheduler factory); `None` for the
            budget's default.
        g_min: Adaptive-compute threshold, or `None`.
        momentum: Look-ahead; `None` for 0.3 with NAG-GD.
        **kwargs: Passed to `Descender` (e.g. `nonfinite="freeze"`, `callback=`).

    Raises:
        ValueError: `steps` is not a positive int.
    """
    extra = default_momentum(optimizer, momentum)
    return Descender(field, optimizer, lr=lr, steps=steps, g_min=g_min, **extra, **kwargs)


__all__ = [
    "DEFAULT_STEP_BUDGET",
    "NAG_NAMES",
    "PAPER_LR",
    "PAPER_MOMENTUM",
    "PAPER_STEPS",
    "default_lr",
    "default_momentum",
    "paper_descender",
]

"""How to descend, said once: the optimiser, step budget, step size, adaptive-compute
threshold and look-ahead that `tasks.denoise`, `tasks.inpaint`, `tasks.ood_scores` and the
named-optimiser path of `SampleConfig` all share.

    settings = DescentSettings(steps=50)          # NAG-GD, 0.425 / 50, look-ahead 0.3
    result = settings.descender(field).run(x0)    # what ek.tasks.denoise(field, x0, steps=50) runs

Unset values are the paper's: `lr=None` is the budget's step (`budget_lr`: $0.425 / K$ for GD,
NAG-GD and `Multistep`, 2/K for the Adam family), `momentum=None` is NAG-GD's
$\\mu = 0.3$ (`PAPER_MOMENTUM`) when the optimiser is NAG-GD named as a string, and the
optimiser's own default otherwise.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

from energykit._checks import check_int, check_real
from energykit.descent.budget import PAPER_STEPS
from energykit.descent.descender import Descender
from energykit.descent.nag import PAPER_MOMENTUM
from energykit.descent.resolve import OptimizerSpec
from energykit.descent.schedule import StepSize
from energykit.fields.base import EnergyField

#: Names under which `resolve_optimizer` finds NAG-GD, whose look-ahead defaults to
#: `PAPER_MOMENTUM`.
NAG_NAMES = ("nag", "naggd")


def check_descent_values(
    prefix: str, *, steps: object, lr: object, g_min: object, momentum: object
) -> None:
    """The ranges every descent setting must hold, named `prefix + key` in errors: `steps` an
    int >= 1; `lr` (when a number) and `g_min` > 0 or `None`; `momentum` >= 0 or `None`.
    Per-step `lr` sequences and scheduler factories are checked by the `Descender`.

    Raises:
        TypeError, ValueError: a value out of its range; the message names it.
    """
    check_int(f"{prefix}steps", steps, minimum=1)
    if isinstance(lr, numbers.Real):
        check_real(f"{prefix}lr", lr, minimum=0.0, strict=True)
    if g_min is not None:
        check_real(f"{prefix}g_min", g_min, minimum=0.0, strict=True)
    if momentum is not None:
        check_real(f"{prefix}momentum", momentum, minimum=0.0)


@dataclass(frozen=True)
class DescentSettings:
    r"""The settings of one descent (checked on construction).

    Attributes:
        optimizer: Any `Descender` optimiser: a name (`"nag"`, the paper's NAG-GD; `"gd"`,
            `"ab2"`, `"adam"`, ...) or a `torch.optim.Optimizer` class.
        steps: Step budget $K$ (default `PAPER_STEPS`, 250).
        lr: Step size: a number, $K$ per-step sizes, or a `torch.optim.lr_scheduler` factory;
            `None` for the budget's default (0.425 / `steps` for GD, NAG-GD and `Multistep`).
        g_min: Adaptive compute: a sample stops once $\lVert\nabla E\rVert$ falls below it;
            `None` runs every sample the full budget.
        momentum: NAG-GD's look-ahead $\mu$ (`None`: 0.3 for NAG-GD named as a string) or
            the optimiser's own momentum.
    """

    optimizer: OptimizerSpec = "nag"
    steps: int = PAPER_STEPS
    lr: StepSize | None = None
    g_min: float | None = None
    momentum: float | None = None

    def __post_init__(self) -> None:
        check_descent_values(
            "", steps=self.steps, lr=self.lr, g_min=self.g_min, momentum=self.momentum
        )

    def optimizer_kwargs(self) -> dict[str, Any]:
        """The optimiser's look-ahead keyword: `momentum` when set, `PAPER_MOMENTUM` for
        NAG-GD named as a string, nothing otherwise (the optimiser keeps its own default)."""
        momentum = self.momentum
        if momentum is None and isinstance(self.optimizer, str) and self.optimizer in NAG_NAMES:
            momentum = PAPER_MOMENTUM
        return {} if momentum is None else {"momentum": momentum}

    def descender(self, field: EnergyField, **kwargs: Any) -> Descender:
        """The `Descender` these settings describe, on `field`.

        Args:
            field: The landscape.
            **kwargs: Passed to `Descender` (e.g. `nonfinite="freeze"`, `callback=`,
                `progress=`).
        """
        return Descender(
            field,
            self.optimizer,
            lr=self.lr,
            steps=self.steps,
            g_min=self.g_min,
            **self.optimizer_kwargs(),
            **kwargs,
        )


__all__ = [
    "NAG_NAMES",
    "DescentSettings",
    "check_descent_values",
]

"""The step a descent takes when the caller names none, for a budget of $K$ steps.

Every default keeps the path length fixed when the budget changes. For gradient descent,
NAG-GD and the multistep optimisers that is $\\eta = 0.425 / K$ (0.0017 at the paper's
$K = 250$, its best EqM-XL/2 sampler). Adam normalises each coordinate, so its step is a
distance per coordinate rather than a multiple of the field: `ADAM_STEP_BUDGET / K` $= 2 / K$,
the best of $c / K$ for $c \\in \\{0.25, 0.5, 1, 2, 2.5, 3, 4, 6\\}$ at $K = 10$ and 25 on a
digits model (`docs/fewstep.md`; Adam stays far behind NAG-GD and the few-step default
there). Any other optimiser keeps its own default step (energykit cannot know a good one):
pass `lr` for it.
"""

from __future__ import annotations

import functools
import inspect

from torch import optim

from energykit._checks import check_int
from energykit.descent.multistep import Multistep
from energykit.descent.nag import NAGGD

#: Step budget of the paper's best EqM-XL/2 sampler (NAG-GD, Section 5, FID 1.90).
PAPER_STEPS = 250
#: Path length of the default step of GD, NAG-GD and `Multistep`: `lr = 0.425 / steps`.
DEFAULT_STEP_BUDGET = 0.425
#: Path length of Adam's default step, per coordinate: `lr = ADAM_STEP_BUDGET / steps`.
ADAM_STEP_BUDGET = 2.0

#: Optimiser classes whose default step is `DEFAULT_STEP_BUDGET / steps`.
GRADIENT_STEPPERS: tuple[type[optim.Optimizer], ...] = (optim.SGD, NAGGD, Multistep)
#: Optimiser classes whose default step is `ADAM_STEP_BUDGET / steps`.
ADAM_LIKE: tuple[type[optim.Optimizer], ...] = (optim.Adam, optim.AdamW, optim.NAdam, optim.RAdam)


def default_lr(steps: int) -> float:
    """The step of GD, NAG-GD and `Multistep` when none is given: $0.425 / K$ for a budget of
    $K$ steps (0.0017 at 250, the paper's NAG-GD step), so every budget travels the same path.

    Raises:
        ValueError: `steps` is not a positive int.
    """
    return DEFAULT_STEP_BUDGET / check_int("steps", steps, minimum=1)


def budget_lr(factory: object, steps: int) -> float | None:
    """The default step of the optimiser `factory` for a budget of `steps`: `0.425 / steps`
    for GD, NAG-GD and `Multistep`, `2 / steps` for the Adam family, `None` (the optimiser's own
    default) for any other optimiser, whose step energykit cannot know.

    Raises:
        ValueError: `steps` is not a positive int.
    """
    steps = check_int("steps", steps, minimum=1)
    while isinstance(factory, functools.partial):  # e.g. "ab2": Multistep with order=2
        factory = factory.func
    if inspect.isclass(factory) and issubclass(factory, GRADIENT_STEPPERS):
        return DEFAULT_STEP_BUDGET / steps
    if inspect.isclass(factory) and issubclass(factory, ADAM_LIKE):
        return ADAM_STEP_BUDGET / steps
    return None


__all__ = [
    "ADAM_STEP_BUDGET",
    "DEFAULT_STEP_BUDGET",
    "PAPER_STEPS",
    "budget_lr",
    "default_lr",
]

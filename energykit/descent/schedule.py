"""Per-step hyper-parameters of a descent: step sizes and look-aheads that change with the step.

A `Descender` takes `lr` as a number (every step the same), a sequence of $K$ per-step sizes
$\\eta_0, \\dots, \\eta_{K-1}$, or a `torch.optim.lr_scheduler` factory `f(optimizer)`, so
torch's own schedulers work. NAG-GD's (and `Multistep`'s) look-ahead `momentum` may likewise be a
sequence of $K$ values. The optimiser still does the maths: before step $k$ the schedule writes
$\\eta_k$ (and $\\mu_k$) into its parameter group as plain Python floats, which costs a dictionary
write and no device work; a torch scheduler is stepped after each optimiser step, as in training.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from energykit._checks import check_real

#: A torch scheduler built over the descent's optimiser, e.g.
#: `lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=K)`.
SchedulerFactory = Callable[[Optimizer], LRScheduler]
#: What `Descender(lr=...)` accepts.
StepSize = float | Sequence[float] | SchedulerFactory

#: Optimiser keywords that may be given per step as a sequence of `steps` values.
PER_STEP_KEYWORDS = ("momentum",)


def is_sequence(value: object) -> bool:
    """Whether `value` is a sequence of per-step values (not a string or a number)."""
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def check_per_step(
    name: str, values: object, steps: int | None, minimum: float = 0.0
) -> list[float]:
    """Require a non-empty sequence of finite reals `>= minimum`, of length `steps` when given.

    Raises:
        TypeError: `values` is not a sequence of real numbers.
        ValueError: an empty sequence, a wrong length, or a value out of range.
    """
    if not is_sequence(values):
        raise TypeError(
            f"{name}: expected a sequence of per-step numbers, got {type(values).__name__}"
        )
    seq = list(values)  # type: ignore[call-overload]
    if not seq:
        raise ValueError(f"{name}: expected at least one per-step value, got an empty sequence")
    if steps is not None and len(seq) != steps:
        raise ValueError(f"{name}: expected {steps} per-step values (one per step), got {len(seq)}")
    if all(type(v) is float and math.isfinite(v) and v >= minimum for v in seq):
        return seq  # the common case, checked in one pass; the loop below names a bad value
    out = []
    for i, v in enumerate(seq):
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise TypeError(f"{name}[{i}]: expected a real number, got {type(v).__name__}")
        out.append(check_real(f"{name}[{i}]", v, minimum=minimum))
    return out


class StepSchedule:
    """Writes step $k$'s hyper-parameters into an optimiser, or steps a torch scheduler.

    Args:
        per_step: Parameter-group keys and their per-step values, e.g.
            `{"lr": [...], "momentum": [...]}`, each of length `steps`.
        scheduler: A torch scheduler factory, stepped after each optimiser step; `None` for
            none.
    """

    def __init__(
        self, per_step: dict[str, list[float]], scheduler: SchedulerFactory | None = None
    ) -> None:
        self.per_step = per_step
        self.items = list(per_step.items())
        self.scheduler = scheduler

    def start(self, optimizer: Optimizer) -> LRScheduler | None:
        """Build the torch scheduler over `optimizer` (when there is one).

        Raises:
            TypeError: the factory did not return a torch `LRScheduler`.
        """
        if self.scheduler is None:
            return None
        sched = self.scheduler(optimizer)
        if not isinstance(sched, LRScheduler):
            raise TypeError(
                "lr: a scheduler factory must return a torch.optim.lr_scheduler.LRScheduler, "
                f"got {type(sched).__name__}"
            )
        return sched

    def before(self, optimizer: Optimizer, k: int) -> None:
        """Set step `k`'s values in every parameter group (plain floats: no device work)."""
        for key, values in self.items:
            v = values[k]
            for group in optimizer.param_groups:
                group[key] = v


__all__ = [
    "PER_STEP_KEYWORDS",
    "SchedulerFactory",
    "StepSchedule",
    "StepSize",
    "check_per_step",
    "is_sequence",
]

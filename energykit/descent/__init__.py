"""Sampling by optimisation: the Descender, its results, NAG-GD and multistep optimisers,
optimiser lookup, per-step schedules, and the paper's sampler defaults (step budget, NAG-GD
look-ahead) and the settings of one descent."""

from energykit.descent._progress import Progress, ProgressFactory, tqdm_progress
from energykit.descent.defaults import (
    DEFAULT_STEP_BUDGET,
    PAPER_LR,
    PAPER_MOMENTUM,
    PAPER_STEPS,
    default_lr,
)
from energykit.descent.descender import Descender, DescentState
from energykit.descent.multistep import Multistep
from energykit.descent.nag import NAGGD
from energykit.descent.resolve import available_optimizers, resolve_optimizer
from energykit.descent.result import DescentResult, DescentStep
from energykit.descent.settings import DescentSettings
from energykit.descent.solver import Solver, SolverFileError

__all__ = [
    "DEFAULT_STEP_BUDGET",
    "NAGGD",
    "PAPER_LR",
    "PAPER_MOMENTUM",
    "PAPER_STEPS",
    "Descender",
    "DescentResult",
    "DescentSettings",
    "DescentState",
    "DescentStep",
    "Multistep",
    "Progress",
    "ProgressFactory",
    "Solver",
    "SolverFileError",
    "available_optimizers",
    "default_lr",
    "resolve_optimizer",
    "tqdm_progress",
]

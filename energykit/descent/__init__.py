"""Sampling by optimisation: the Descender, its results, NAG-GD and optimiser lookup."""

from energykit.descent.descender import Descender, DescentState
from energykit.descent.nag import NAGGD
from energykit.descent.resolve import available_optimizers, resolve_optimizer
from energykit.descent.result import DescentResult, DescentStep

__all__ = [
    "NAGGD",
    "Descender",
    "DescentResult",
    "DescentState",
    "DescentStep",
    "available_optimizers",
    "resolve_optimizer",
]

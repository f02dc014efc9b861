"""Training objectives: EqM (implicit and explicit), c(gamma) schedules, flow matching."""

from energykit.objectives.eqm import EqMLoss
from energykit.objectives.flow_matching import FlowMatchingLoss
from energykit.objectives.interpolant import draw_levels, draw_noise, interpolate
from energykit.objectives.output import LossOutput
from energykit.objectives.schedules import (
    Constant,
    LinearDecay,
    Piecewise,
    Schedule,
    TruncatedDecay,
)

__all__ = [
    "Constant",
    "EqMLoss",
    "FlowMatchingLoss",
    "LinearDecay",
    "LossOutput",
    "Piecewise",
    "Schedule",
    "TruncatedDecay",
    "draw_levels",
    "draw_noise",
    "interpolate",
]

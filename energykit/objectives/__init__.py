"""Training objectives: EqM (implicit and explicit), c(gamma) schedules, flow matching, and
the table of objective kinds."""

from energykit.objectives.eqm import EqMLoss
from energykit.objectives.flow_matching import FlowMatchingLoss
from energykit.objectives.interpolant import draw_levels, draw_noise, interpolate
from energykit.objectives.kinds import (
    OBJECTIVE_KINDS,
    ObjectiveKindSpec,
    kind_of_field,
    objective_kind,
)
from energykit.objectives.output import LossOutput
from energykit.objectives.schedules import (
    Constant,
    LinearDecay,
    Piecewise,
    Schedule,
    TruncatedDecay,
)

__all__ = [
    "OBJECTIVE_KINDS",
    "Constant",
    "EqMLoss",
    "FlowMatchingLoss",
    "LinearDecay",
    "LossOutput",
    "ObjectiveKindSpec",
    "Piecewise",
    "Schedule",
    "TruncatedDecay",
    "draw_levels",
    "draw_noise",
    "interpolate",
    "kind_of_field",
    "objective_kind",
]

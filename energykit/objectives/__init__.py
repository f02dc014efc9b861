"""Training objectives: EqM (implicit and explicit), c(gamma) schedules, flow matching,
minibatch OT couplings of noise and data, and the table of objective kinds."""

from energykit.objectives.coupling import (
    COUPLING_NAMES,
    Coupling,
    ExactOT,
    Independent,
    Sinkhorn,
    coupling_named,
)
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
    "COUPLING_NAMES",
    "OBJECTIVE_KINDS",
    "Constant",
    "Coupling",
    "EqMLoss",
    "ExactOT",
    "FlowMatchingLoss",
    "Independent",
    "LinearDecay",
    "LossOutput",
    "ObjectiveKindSpec",
    "Piecewise",
    "Schedule",
    "Sinkhorn",
    "TruncatedDecay",
    "coupling_named",
    "draw_levels",
    "draw_noise",
    "interpolate",
    "kind_of_field",
    "objective_kind",
]

"""ODE samplers for time-conditional flow-matching baselines."""

from energykit.flows.guidance import guided_velocity
from energykit.flows.ode import (
    METHODS,
    ODEResult,
    euler,
    euler_step,
    heun,
    heun_step,
    integrate,
)
from energykit.flows.velocity import Velocity

__all__ = [
    "METHODS",
    "ODEResult",
    "Velocity",
    "euler",
    "euler_step",
    "guided_velocity",
    "heun",
    "heun_step",
    "integrate",
]

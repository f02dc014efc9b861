"""ODE samplers for time-conditional flow-matching baselines."""

from energykit.flows.guidance import guided_velocity
from energykit.flows.ode import ODEResult, euler, euler_step, heun, heun_step, integrate

__all__ = ["ODEResult", "euler", "euler_step", "guided_velocity", "heun", "heun_step", "integrate"]

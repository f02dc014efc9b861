"""The one list of samplers: descent optimisers (for energy fields) and ODE methods (for
velocities). Recipe validation, `generate` and the CLI all ask `check_sampler`.

A new descent optimiser registered in `energykit.descent` (or a new method in
`energykit.flows.METHODS`) is usable from recipes and `energykit sample --sampler` at once.
"""

from __future__ import annotations

from energykit.descent import available_optimizers, resolve_optimizer
from energykit.flows import METHODS

#: The ODE methods, for velocities (flow matching).
ODE_METHODS: tuple[str, ...] = tuple(METHODS)
#: The sampler that picks the best default for the budget, for fields and velocities alike.
AUTO = "auto"
#: What `auto` integrates a velocity with.
AUTO_ODE = "euler"


def sampler_names() -> list[str]:
    """Every sampler name: the descent optimisers, then the ODE methods."""
    return [AUTO, *available_optimizers(), *ODE_METHODS]


def is_ode_method(name: str) -> bool:
    """Whether `name` is an ODE method (it samples a velocity, not a field)."""
    return name in METHODS


def check_sampler(name: str, *, flow_matching: bool) -> str:
    """`name`, checked against the model family it samples.

    Args:
        name: The sampler name.
        flow_matching: The model is a velocity (ODE methods) rather than a field (descent).

    Returns:
        `name`, unchanged.

    Raises:
        TypeError: `name` is not a string.
        ValueError: an ODE method for a field, a descent optimiser for a velocity, or an
            unknown optimiser name (the message lists the names).
    """
    if not isinstance(name, str):
        raise TypeError(f"expected a sampler name (a string), got {type(name).__name__}")
    if name == AUTO:
        return name
    if flow_matching and not is_ode_method(name):
        methods = " or ".join(map(repr, ODE_METHODS))
        raise ValueError(f"flow-matching models sample with {methods}, got {name!r}")
    if not flow_matching:
        if is_ode_method(name):
            raise ValueError(f"EqM models sample by descent (gd, nag, adam, ...), got {name!r}")
        resolve_optimizer(name)
    return name


__all__ = ["AUTO", "AUTO_ODE", "ODE_METHODS", "check_sampler", "is_ode_method", "sampler_names"]

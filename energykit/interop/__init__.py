"""Interop with the reference EqM release: key mapping and sign conversion."""

from energykit.interop.reference import (
    Negated,
    infer_reference_kwargs,
    load_reference_eqm,
    reference_state_dict,
)

__all__ = ["Negated", "infer_reference_kwargs", "load_reference_eqm", "reference_state_dict"]

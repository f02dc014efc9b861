"""Compatibility: generation moved to `energykit.sampling` (`generate`, `Samples`) and the
paper's defaults to `energykit.descent.defaults` (`default_lr`, `DEFAULT_STEP_BUDGET`)."""

from __future__ import annotations

import warnings
from typing import Any

from energykit.objectives import objective_kind
from energykit.sampling import DEFAULT_STEP_BUDGET, Samples, Velocity, default_lr
from energykit.sampling import generate as _generate


def generate(model: Any, *args: Any, **kwargs: Any) -> Samples:
    """`energykit.sampling.generate(model, shape, cfg, ...)`, where `model` is an
    `EnergyField` or a `flows.Velocity` (`TrainedModel.field()` / `.velocity()`).

    Deprecated form: `generate(net, kind, shape, cfg, ..., field=None)`, a bare net and its
    objective kind (with `field`, the EqM field to descend on instead); it warns and builds
    the field or velocity from the table of objective kinds.
    """
    if not (args and isinstance(args[0], str)):
        return _generate(model, *args, **kwargs)
    warnings.warn(
        "generate(net, kind, ...) is deprecated; use energykit.sampling.generate("
        "model.field() or model.velocity(), shape, cfg, ...)",
        DeprecationWarning,
        stacklevel=2,
    )
    kind, *rest = args
    field = kwargs.pop("field", None)
    spec = objective_kind(kind)
    if spec.flow_matching:
        target: Any = Velocity(model, spec.time_conditional)
    else:
        target = spec.field(model) if field is None else field
    return _generate(target, *rest, **kwargs)


__all__ = ["DEFAULT_STEP_BUDGET", "Samples", "default_lr", "generate"]

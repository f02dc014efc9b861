"""Out-of-distribution scores from an energy landscape: higher = more out-of-distribution.

EqM puts the data at the minima of $E$ (paper sign: descent lowers $E$), so:

- `"energy"`: $E(x)$ itself; needs an explicit field (`DotEnergy`, `L2Energy`, closed forms).
- `"grad_norm"`: $\\lVert\\nabla E(x)\\rVert$; works for implicit fields too. Near zero on the
  data manifold (where the target $(\\varepsilon - x) c(\\gamma)$ vanishes, $c = 0$ for
  $\\gamma \\ge a$), large away from it.
- `"descent_distance"`: $\\lVert x - x_K\\rVert$ after $K$ descent steps: how far the landscape
  moves the input before it settles.
- `"descent_steps"`: steps until $\\lVert\\nabla E\\rVert <$ `g_min` (adaptive compute); needs
  `g_min`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from energykit._checks import check_batch, check_finite_tensor, check_int
from energykit.descent import DescentSettings
from energykit.fields import EnergyField, NoEnergyError
from energykit.tasks.denoise import check_field

#: The score names `ood_scores` accepts.
OOD_METHODS = ("energy", "grad_norm", "descent_distance", "descent_steps")


def ood_scores(
    field: EnergyField,
    x: Tensor,
    *,
    method: str = "energy",
    steps: int = 50,
    lr: float | None = None,
    g_min: float | None = None,
    **cond: Any,
) -> Tensor:
    """One score per input, `(B,)`; higher means more out-of-distribution.

    Args:
        field: The trained landscape.
        x: Inputs `(B, *shape)`.
        method: One of `OOD_METHODS` (see the module docstring).
        steps: Descent budget of the descent-based scores.
        lr: Descent step of the descent-based scores (default `default_lr(steps)`
            $= 0.425/$`steps`).
        g_min: Threshold of `"descent_steps"` (required there).
        **cond: Conditioning passed to the field.

    Raises:
        NoEnergyError: `"energy"` on an implicit field (the message names the alternatives).
        TypeError: `field` is not an `EnergyField`, or `x` is not a floating tensor.
        ValueError: unknown `method`, `"descent_steps"` without `g_min`, `steps < 1`, or an
            empty or non-finite `x`.
    """
    check_field(field)
    x = check_finite_tensor("x", check_batch("x", x))
    steps = check_int("steps", steps, minimum=1)
    if method not in OOD_METHODS:
        raise ValueError(f"ood_scores method: expected one of {OOD_METHODS}, got {method!r}")
    if method == "energy":
        if not field.has_energy:
            raise NoEnergyError(
                f"ood_scores: {field.label} is implicit and has no energy; use "
                "method='grad_norm', 'descent_distance' or 'descent_steps', or train an "
                "explicit head (objective eqm-dot / eqm-l2)"
            )
        with torch.no_grad():
            return field.energy(x, **cond).detach()
    if method == "grad_norm":
        with torch.no_grad():
            g = field.gradient(x, **cond)
        return torch.linalg.vector_norm(g.reshape(len(x), -1), dim=1)
    if method == "descent_steps" and g_min is None:
        raise ValueError("ood_scores method='descent_steps': expected g_min, got None")
    descender = DescentSettings("gd", steps, lr, g_min).descender(field)
    result = descender.run(x, **cond)
    if method == "descent_steps":
        return result.steps.to(x.dtype)
    return torch.linalg.vector_norm((result.x - x).reshape(len(x), -1), dim=1)


__all__ = ["OOD_METHODS", "ood_scores"]

"""Which descent a `SampleConfig` runs: a calibrated solver, the budget's default, or a named
optimiser, with the step sizes it will use (recorded in samples files)."""

from __future__ import annotations

import dataclasses
from typing import Any

from energykit.descent import Descender, Progress, Solver, resolve_optimizer
from energykit.descent.budget import budget_lr
from energykit.descent.defaults import PAPER_MOMENTUM
from energykit.descent.fewstep import Landscape, default_solver, paper_budget
from energykit.descent.settings import NAG_NAMES, DescentSettings
from energykit.fields import EnergyField
from energykit.sampling.config import SampleConfig
from energykit.sampling.samplers import AUTO


def scaled(solver: Solver, factor: float) -> Solver:
    """`solver` with every step size multiplied by `factor` (`SampleConfig.lr_scale`)."""
    if factor == 1.0:
        return solver
    return dataclasses.replace(solver, lr=tuple(v * factor for v in solver.lr))


def descent_solver(
    cfg: SampleConfig, landscape: Landscape | None, solver: Solver | None
) -> Solver | None:
    """The solver `cfg` runs, step sizes scaled by `cfg.lr_scale`: `solver` when given, the
    budget's few-step default for `auto`, `None` for a named optimiser and for `auto` at the
    paper's budget, which run the optimiser by name (see `descender_for`).

    Raises:
        ValueError: `solver` with a `steps` that is not its own, or `lr` with `auto` or a
            solver (both fix their steps; `lr_scale` scales them).
    """
    if solver is not None:
        if cfg.steps != solver.steps:
            raise ValueError(
                f"steps: the solver has {solver.steps} steps, got steps={cfg.steps} (leave "
                "steps unset with a solver, or set it to the solver's)"
            )
        chosen = solver
    elif cfg.sampler == AUTO and not paper_budget(cfg.steps, landscape):
        chosen = default_solver(cfg.steps, landscape)
    else:
        chosen = None
    if cfg.lr is not None and (chosen is not None or cfg.sampler == AUTO):
        what = "a solver" if solver is not None else "sampler 'auto'"
        raise ValueError(
            f"lr: {what} sets its own per-step sizes, got lr={cfg.lr}; scale them with "
            "lr_scale, or name an optimiser (sampler: nag, gd, ab2, ...) to set lr"
        )
    return None if chosen is None else scaled(chosen, cfg.lr_scale)


def descender_for(
    field: EnergyField,
    cfg: SampleConfig,
    landscape: Landscape | None = None,
    solver: Solver | None = None,
    progress: Progress = False,
) -> Descender:
    """The `Descender` that samples `field` as `cfg` says.

    Args:
        field: The (guided) field.
        cfg: Sampler settings.
        landscape: The field's $c(\\gamma)$ for `auto` (`TrainedModel.landscape`); `None` for
            the generic default.
        solver: A calibrated solver, already checked against the model.
        progress: The descent's progress bar.
    """
    common: dict[str, Any] = {"nonfinite": cfg.nonfinite, "progress": progress}
    chosen = descent_solver(cfg, landscape, solver)
    if chosen is not None:
        return chosen.descender(field, g_min=cfg.g_min, **common)
    # `auto` at the paper's budget (or without a landscape) is the paper's NAG-GD, by name.
    name, momentum = ("nag", PAPER_MOMENTUM) if cfg.sampler == AUTO else (cfg.sampler, None)
    lr = budget_lr(resolve_optimizer(name), cfg.steps) if cfg.lr is None else cfg.lr
    if lr is None and cfg.lr_scale != 1.0:
        raise ValueError(f"lr_scale: {name!r} has no default step to scale; set lr for it")
    lr = None if lr is None else lr * cfg.lr_scale
    if momentum is None and name in NAG_NAMES:
        momentum = cfg.momentum
    settings = DescentSettings(name, steps=cfg.steps, lr=lr, g_min=cfg.g_min, momentum=momentum)
    return settings.descender(field, **common)


__all__ = ["descender_for", "descent_solver", "scaled"]

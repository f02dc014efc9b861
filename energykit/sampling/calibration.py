"""Calibrate a few-evaluation solver for a trained model: the work behind `energykit
calibrate`.

The model is sampled as `generate` samples it (guidance from `cfg`, balanced labels), from
`n` calibration noise draws of a generator seeded `seed`, which must not be one of the seeds
the evaluation batches use. The reference is the paper's sampler on that noise (NAG-GD, step
0.0017, look-ahead 0.3, 250 steps); the starting point is the budget's training-free default
(`energykit.descent.fewstep`). The fitted solver is bound to the model (`TrainedModel.binding`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, cast

import torch

from energykit._checks import check_int
from energykit.descent.calibrate import CalibrationLog, calibrate
from energykit.descent.fewstep import default_solver
from energykit.descent.settings import DescentSettings
from energykit.descent.solver import Solver
from energykit.fields import EnergyField
from energykit.sampling.config import SampleConfig
from energykit.sampling.generate import guided_for
from energykit.sampling.source import BATCH_SEED_STRIDE, SampleSource

#: Seed of the calibration noise by default (evaluation batches use `cfg.seed + 1,000,003 j`).
CALIBRATION_SEED = 10_000
#: Calibration noise draws by default (the issue's bound: at most 256).
CALIBRATION_SAMPLES = 256


@torch.no_grad()
def _reference(field: Any, x0: torch.Tensor, cond: dict[str, Any]) -> torch.Tensor:
    """The paper's 250-step NAG-GD from `x0`."""
    return DescentSettings().descender(field).run(x0, **cond).x


def calibrate_model(
    model: SampleSource,
    steps: int,
    cfg: SampleConfig,
    *,
    n: int = CALIBRATION_SAMPLES,
    seed: int = CALIBRATION_SEED,
    device: str | torch.device = "cpu",
    callback: Callable[[int, float], None] | None = None,
    **fit: Any,
) -> tuple[Solver, CalibrationLog]:
    """Fit a `steps`-evaluation solver for `model` (see the module).

    Args:
        model: The trained model (EqM).
        steps: The budget $K$.
        cfg: Its sampler settings (guidance `cfg_scale`, `cfg_channels`, evaluation `seed`).
        n: Calibration noise draws.
        seed: Their generator seed; refused when an evaluation batch of `cfg` uses it.
        device: Where to fit.
        callback: `callback(iteration, loss)` at logged iterations.
        **fit: Passed to `energykit.descent.calibrate.calibrate` (`iterations`, `loss`,
            `step`, `history`).

    Returns:
        The solver, bound to `model` (its `model` holds `model.binding(cfg.cfg_scale)` and
        `fit` the calibration seed), and the fit's log.

    Raises:
        ValueError: a flow-matching model, `steps` or `n` < 1, or a `seed` that an
            evaluation batch uses.
    """
    steps = check_int("steps", steps, minimum=1)
    n = check_int("n", n, minimum=1)
    batches = -(-cfg.n // cfg.batch)
    if any(seed == cfg.seed + BATCH_SEED_STRIDE * j for j in range(batches)):
        raise ValueError(
            f"seed: {seed} is the noise seed of an evaluation batch of sample.seed={cfg.seed}; "
            "calibrate on other noise (e.g. the default, 10000)"
        )
    field = model.sampleable()
    if not isinstance(field, EnergyField):
        raise ValueError(
            f"calibrate: a {model.kind!r} model is flow matching; calibrated solvers descend "
            "EqM energy fields"
        )
    field = cast(EnergyField, guided_for(field.to(device).eval(), cfg, model.num_classes))
    x0 = torch.randn((n, *model.shape), generator=torch.Generator().manual_seed(seed)).to(device)
    cond: dict[str, Any] = {}
    if model.num_classes is not None:
        cond["y"] = (torch.arange(n) % model.num_classes).to(device)
    target = _reference(field, x0, cond)
    init = default_solver(steps, model.landscape)
    solver, log = calibrate(field, x0, target, init, callback=callback, **fit, **cond)
    bound = dataclasses.replace(
        solver, model=model.binding(cfg.cfg_scale), fit={**solver.fit, "noise_seed": seed}
    )
    return bound, log


__all__ = ["CALIBRATION_SAMPLES", "CALIBRATION_SEED", "calibrate_model"]

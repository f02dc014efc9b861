"""Sampler settings: one dataclass, read from a recipe's `sample` section or built in code."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from energykit.descent.defaults import PAPER_MOMENTUM, PAPER_STEPS


@dataclass
class SampleConfig:
    """How a trained model is sampled (by `energykit sample`, `generate` and evaluation).

    Attributes:
        sampler: `auto` (default): the best training-free sampler for the budget. For EqM,
            below the paper's 250 steps the few-step schedule of
            `energykit.descent.fewstep` (Adams-Bashforth 2 from the model's $c(\\gamma)$),
            at 250 and above the paper's NAG-GD (0.425 / steps, look-ahead 0.3); for FM,
            `euler`. Or, for EqM, a descent optimiser name (`gd`, `nag`, `ab2`-`ab4`, `adam`,
            any torch.optim name); for FM an ODE method (`euler`, `heun` or `ab2`). See
            `sampler_names()`.
        lr: Descent step size of a named optimiser; `None` means the budget's default
            (`0.425 / steps` for `gd`, `nag` and `ab*`: the paper's 0.0017 at 250 steps).
            Not with `auto` or a `solver`, which set their own steps. Ignored by the ODE
            samplers, whose step is `1 / steps`.
        lr_scale: Multiplies the step (descent) or the ODE step size `1 / steps` (FM, then
            integrated to `t = lr_scale`): the step-size robustness knob.
        momentum: Look-ahead $\\mu$ of `nag` (the paper's 0.3); other samplers ignore it.
        steps: Step budget (descent) or ODE steps.
        g_min: Adaptive-compute threshold on $\\lVert\\nabla E\\rVert$ (descent only).
        n: Number of samples.
        seed: Seed of the initial noise.
        batch: Samples per forward pass.
        cfg_scale: Classifier-free guidance weight $w$ (1: no guidance; class-conditional
            models only).
        cfg_channels: Guide only the first k channels (the reference EqM code guides 3 of
            the 4 latent channels); `None` guides all.
        nonfinite: Descent only. `raise`: a NaN/inf from the model stops the run with an
            error. `freeze`: the samples it hits are frozen at their last finite iterate, the
            rest of the batch carries on, and the samples file lists them
            (`failed_indices`, `failed_count` in its metadata).
        dtype: Descent only: the precision the network runs in (`float32`, `bfloat16`,
            `float16`). The samples and the optimiser state stay float32, so small steps are
            not rounded away (`energykit.fields.LowPrecision`).
        solver: Descent only: a calibrated solver file (`energykit calibrate`), which fixes
            the optimiser, its per-step coefficients and `steps`; it must have been fitted
            for this model.
        compile: Descent only: `torch.compile` the network for sampling (implicit and
            explicit heads alike; an explicit head needs only the first-order
            $\nabla_x E$, which a compiled network supports). Compilation takes seconds to
            minutes and pays off for long or repeated descents.
    """

    sampler: str = "auto"
    lr: float | None = None
    lr_scale: float = 1.0
    momentum: float = PAPER_MOMENTUM
    steps: int = PAPER_STEPS
    g_min: float | None = None
    n: int = 1000
    seed: int = 0
    batch: int = 1000
    cfg_scale: float = 1.0
    cfg_channels: int | None = None
    nonfinite: Literal["raise", "freeze"] = "raise"
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    compile: bool = False
    solver: str | None = None


__all__ = ["SampleConfig"]

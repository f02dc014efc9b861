"""Sampler settings: one dataclass, read from a recipe's `sample` section or built in code."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from energykit._checks import check_int, check_real
from energykit._config import ConfigError
from energykit.descent.defaults import PAPER_MOMENTUM, PAPER_STEPS
from energykit.descent.settings import check_descent_values

#: The precisions a descent may run its network in.
DTYPE_NAMES = ("float32", "bfloat16", "float16")


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

    def check(
        self, *, flow_matching: bool | None = None, class_conditional: bool | None = None
    ) -> SampleConfig:
        """The one check of sampler settings (recipes, `generate` and `energykit sample` all
        call it); returns `self`. Ranges and modes always; with `flow_matching`, whether the
        sampler, `nonfinite`, `dtype` and `compile` suit the model; with
        `class_conditional`, whether guidance (`cfg_scale`) can apply.

        Raises:
            TypeError: a setting of the wrong type (settings built in code).
            ConfigError: a setting out of range or unsuited to the model, named
                `sample.KEY`.
        """
        if not isinstance(self.compile, bool):
            raise TypeError(f"sample.compile: expected True or False, got {self.compile!r}")
        try:
            self._check_ranges()
        except ValueError as err:
            raise ConfigError(str(err)) from None
        if class_conditional is False and self.cfg_scale != 1.0:
            raise ConfigError(
                "sample.cfg_scale: guidance needs a class-conditional model "
                f"(data.class_conditional=true), got cfg_scale={self.cfg_scale}"
            )
        if flow_matching is not None:
            self._check_fits(flow_matching)
        return self

    def _check_ranges(self) -> None:
        check_descent_values(
            "sample.", steps=self.steps, lr=self.lr, g_min=self.g_min, momentum=self.momentum
        )
        for key in ("n", "batch"):
            check_int(f"sample.{key}", getattr(self, key), minimum=1)
        check_int("sample.seed", self.seed, minimum=0)
        check_real("sample.lr_scale", self.lr_scale, minimum=0.0, strict=True)
        if self.cfg_channels is not None:
            check_int("sample.cfg_channels", self.cfg_channels, minimum=1)
        if self.nonfinite not in ("raise", "freeze"):
            raise ValueError(
                f"sample.nonfinite: expected 'raise' or 'freeze', got {self.nonfinite!r}"
            )
        if self.dtype not in DTYPE_NAMES:
            raise ValueError(
                f"sample.dtype: expected one of {list(DTYPE_NAMES)}, got {self.dtype!r}"
            )

    def _check_fits(self, flow_matching: bool) -> None:
        """The sampler and modes suit a flow-matching model (an ODE) or an EqM one."""
        from energykit.sampling.samplers import check_sampler

        try:
            check_sampler(self.sampler, flow_matching=flow_matching)
        except ValueError as err:
            raise ConfigError(f"sample.sampler: {err}") from None
        if not flow_matching:
            return
        if self.nonfinite != "raise":
            raise ConfigError(
                f"sample.nonfinite: {self.nonfinite!r} applies to descent samplers; the ODE "
                f"sampler {self.sampler!r} supports only 'raise'"
            )
        if self.dtype != "float32" or self.compile:
            key = "sample.dtype" if self.dtype != "float32" else "sample.compile"
            raise ConfigError(
                f"{key}: low precision and compilation apply to descent samplers; the ODE "
                f"sampler {self.sampler!r} runs in float32 eagerly (got dtype {self.dtype!r}, "
                f"compile {self.compile})"
            )


__all__ = ["SampleConfig"]

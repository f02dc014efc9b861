"""Draw samples from noise: descent for an `EnergyField`, ODE integration for a `Velocity`."""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from energykit._checks import check_int
from energykit._repr import count_text, mean_text, tensor_text
from energykit.descent import Progress, Solver
from energykit.descent.fewstep import Landscape
from energykit.fields import EnergyField, Guided, LowPrecision, compile_networks
from energykit.flows import Velocity
from energykit.sampling.config import SampleConfig
from energykit.sampling.plan import descender_for
from energykit.sampling.samplers import AUTO, AUTO_ODE

#: What `generate` samples: a field (by descent) or a velocity (by an ODE).
Sampleable = EnergyField | Velocity


@dataclass
class Samples:
    """Samples and what they cost.

    Attributes:
        x: Samples `(n, *shape)`.
        nfe_total: Network evaluations summed over samples (Heun counts 2 per step).
        steps: Per-sample steps `(n,)` (descent), or `None` for ODE samplers.
        seconds: Wall time of the sampling loop.
        y: Class labels the samples were drawn for, or `None`.
        failed: Per-sample `(n,)` bool, the samples frozen on a NaN/inf (descent with
            `cfg.nonfinite="freeze"`; their `x` is the last finite iterate, not a sample of
            the model), or `None` for ODE samplers.
        step_sizes: The step size of each descent step actually used, or `None` (ODE
            samplers, or an optimiser that keeps its own step).
    """

    x: Tensor
    nfe_total: int
    steps: Tensor | None
    seconds: float
    y: Tensor | None = None
    failed: Tensor | None = None
    step_sizes: list[float] | None = None

    @property
    def nfe_mean(self) -> float:
        """Mean network evaluations per sample."""
        return self.nfe_total / len(self.x)

    def __repr__(self) -> str:
        """Shapes and summary numbers, not the tensors."""
        steps = "steps=None" if self.steps is None else f"steps {mean_text(self.steps)}"
        failed = "None" if self.failed is None else count_text(self.failed)
        return (
            f"Samples(x={tensor_text(self.x)}, nfe_total={self.nfe_total}, "
            f"nfe_mean={self.nfe_mean:.4g}, {steps}, seconds={self.seconds:.3g}, "
            f"y={tensor_text(self.y)}, failed={failed})"
        )


@dataclass
class _Chunk:
    """One batch's outcome, before the batches are joined."""

    x: Tensor
    nfe: int
    steps: Tensor | None = None
    failed: Tensor | None = None
    step_sizes: list[float] | None = None


@torch.no_grad()
def generate(
    model: Sampleable,
    shape: tuple[int, ...],
    cfg: SampleConfig,
    *,
    num_classes: int | None = None,
    device: str | torch.device = "cpu",
    label_offset: int = 0,
    progress: Progress = False,
    landscape: Landscape | None = None,
    solver: Solver | None = None,
    **overrides: Any,
) -> Samples:
    # long function: a public entry point; most of its lines document its arguments.
    """Sample `cfg.n` points from Gaussian noise: descend `model` when it is an `EnergyField`
    (with `cfg.sampler`, a descent optimiser), integrate it when it is a `flows.Velocity`
    (`cfg.sampler` an ODE method). A `TrainedModel` gives either: `.field()` or `.velocity()`.

    The noise is `torch.randn((n, *shape))` from a CPU generator seeded `cfg.seed`, then moved
    to `device`, so a seed gives the same samples on every device (up to kernels).

    Args:
        model: The field or velocity (use the EMA weights).
        shape: Shape of one sample.
        cfg: Sampler settings; `overrides` replace single fields (e.g. `steps=50`).
        num_classes: For class-conditional nets: sample i gets label
            `(label_offset + i) % num_classes` (balanced classes). `cfg.cfg_scale` and
            `cfg.cfg_channels` set classifier-free guidance (null class `num_classes`).
        device: Where to sample.
        label_offset: Index of the first sample in a larger, sharded draw.
        progress: A progress bar over the descent steps of each batch (`Descender`'s
            `progress`: `True` for tqdm, or a factory); ODE samplers show none.
        landscape: The field's $c(\\gamma)$, which sampler `auto` builds its few-step
            default from (`TrainedModel.landscape`); `None`: the generic default.
        solver: A calibrated solver to descend with (check it against the model first:
            `Solver.check_model`); it fixes the steps, and `cfg.steps` must match it.
        **overrides: `SampleConfig` fields to replace, e.g. `n=16`.

    Returns:
        The samples `(n, *shape)`, their labels, cost and (descent) per-sample steps.

    Raises:
        TypeError: `model` is neither a field nor a velocity, `cfg` is not a `SampleConfig`,
            an override is not one of its fields, or a setting has the wrong type.
        ValueError: a setting out of range (`n`, `batch`, `steps` < 1, `lr_scale` <= 0,
            negative `label_offset`, `num_classes` < 1, a bad `shape`, an unknown `dtype`),
            a sampler that does not suit `model`, or `nonfinite="freeze"`, a `dtype` other
            than float32 or `compile` with an ODE sampler.
    """
    cfg = _settings(cfg, overrides)
    ode = _check_sampler_fits(model, cfg, num_classes)
    _check_draw(shape, num_classes, label_offset)
    x0, y = _noise(cfg, shape, num_classes, label_offset, device)
    guided = guided_for(_fast(model.eval(), cfg), cfg, num_classes)
    _check_solver(cfg, solver, ode)
    run = (
        _integrate
        if ode
        else functools.partial(_descend, progress=progress, landscape=landscape, solver=solver)
    )
    t0 = time.perf_counter()
    chunks = []
    for start in range(0, cfg.n, cfg.batch):
        rows = slice(start, start + cfg.batch)
        cond: dict[str, Any] = {} if y is None else {"y": y[rows]}
        chunks.append(run(guided, x0[rows], cfg, cond))
    return _join(chunks, y, time.perf_counter() - t0)


def _check_sampler_fits(model: object, cfg: SampleConfig, num_classes: int | None) -> bool:
    """Whether `model` is integrated (a velocity), after checking that `cfg` suits it and
    its classes (`SampleConfig.check`)."""
    ode = _is_velocity(model)
    cfg.check(flow_matching=ode, class_conditional=num_classes is not None)
    return ode


def _check_solver(cfg: SampleConfig, solver: Solver | None, ode: bool) -> None:
    """Refuse a solver for a velocity, and a `cfg.solver` path without the loaded solver."""
    if ode and (solver is not None or cfg.solver is not None):
        raise ValueError("solver: calibrated solvers descend energy fields, not velocities")
    if cfg.solver is not None and solver is None:
        raise ValueError(
            f"solver: cfg.solver is {cfg.solver!r}; generate takes the loaded solver, checked "
            "against its model: solver=energykit.sampling.solver_for(trained_model, cfg) (or "
            "use sample_to_file, which does that)"
        )


def _is_velocity(model: object) -> bool:
    """Whether `model` is sampled by an ODE (a `Velocity`) rather than by descent."""
    if isinstance(model, Velocity):
        return True
    if isinstance(model, EnergyField):
        return False
    raise TypeError(
        "generate model: expected an EnergyField (sampled by descent) or a "
        f"energykit.flows.Velocity (sampled by an ODE), got {type(model).__name__}; "
        "a trained model gives one with .field() or .velocity()"
    )


def _noise(
    cfg: SampleConfig,
    shape: tuple[int, ...],
    num_classes: int | None,
    label_offset: int,
    device: str | torch.device,
) -> tuple[Tensor, Tensor | None]:
    """The initial noise `(n, *shape)` (seeded on the CPU) and the balanced labels `(n,)`."""
    gen = torch.Generator().manual_seed(cfg.seed)
    x0 = torch.randn((cfg.n, *shape), generator=gen).to(device)
    if num_classes is not None:
        return x0, ((torch.arange(cfg.n) + label_offset) % num_classes).to(device)
    return x0, None


#: `SampleConfig.dtype` names.
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def _fast(model: Sampleable, cfg: SampleConfig) -> Sampleable:
    """`model` with its networks in `cfg.dtype` and compiled when `cfg.compile` (fields;
    a copy, the caller's model is not changed)."""
    if isinstance(model, EnergyField) and cfg.dtype != "float32":
        model = LowPrecision(model, DTYPES[cfg.dtype])
    if isinstance(model, EnergyField) and cfg.compile:
        model = compile_networks(model)
    return model


def guided_for(model: Sampleable, cfg: SampleConfig, num_classes: int | None) -> Sampleable:
    """`model` with classifier-free guidance (null class `num_classes`) when `cfg` asks."""
    if num_classes is None or cfg.cfg_scale == 1.0:
        return model
    channels = None if cfg.cfg_channels is None else range(cfg.cfg_channels)
    if isinstance(model, Velocity):
        return model.guided(cfg.cfg_scale, num_classes, channels=channels)
    return Guided(model, cfg.cfg_scale, num_classes, channels=channels)


def _integrate(model: Any, x0: Tensor, cfg: SampleConfig, cond: dict[str, Any]) -> _Chunk:
    """One batch by the ODE method `cfg.sampler`, integrated to `t = cfg.lr_scale`."""
    velocity: Velocity = model
    method = AUTO_ODE if cfg.sampler == AUTO else cfg.sampler
    res = velocity.integrate(x0, steps=cfg.steps, method=method, t_end=cfg.lr_scale, **cond)
    return _Chunk(res.x, res.nfe * len(res.x))


def _descend(
    model: Any,
    x0: Tensor,
    cfg: SampleConfig,
    cond: dict[str, Any],
    progress: Progress = False,
    landscape: Landscape | None = None,
    solver: Solver | None = None,
) -> _Chunk:
    """One batch by descent as `cfg` says (`energykit.sampling.plan.descender_for`)."""
    descender = descender_for(model, cfg, landscape, solver, progress)
    result = descender.run(x0, **cond)
    return _Chunk(result.x, result.nfe_total, result.steps, result.failed, descender.step_sizes)


def _join(chunks: list[_Chunk], y: Tensor | None, seconds: float) -> Samples:
    """The batches as one `Samples`."""

    def cat(get: Callable[[_Chunk], Tensor | None]) -> Tensor | None:
        parts = [t for t in map(get, chunks) if t is not None]
        return torch.cat(parts) if parts else None

    return Samples(
        x=torch.cat([c.x for c in chunks]),
        nfe_total=sum(c.nfe for c in chunks),
        steps=cat(lambda c: c.steps),
        seconds=seconds,
        y=y,
        failed=cat(lambda c: c.failed),
        step_sizes=chunks[0].step_sizes,
    )


def _settings(cfg: SampleConfig, overrides: dict[str, Any]) -> SampleConfig:
    """`cfg` with `overrides` applied, its counts and modes checked (the rest is checked by
    the `Descender` or the ODE sampler)."""
    if not isinstance(cfg, SampleConfig):
        raise TypeError(f"generate cfg: expected a SampleConfig, got {type(cfg).__name__}")
    known = [f.name for f in dataclasses.fields(SampleConfig)]
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise TypeError(f"generate: unknown setting {unknown[0]!r}; expected one of {known}")
    return dataclasses.replace(cfg, **overrides)


def _check_draw(shape: tuple[int, ...], num_classes: int | None, label_offset: int) -> None:
    if not isinstance(shape, (tuple, list)) or not all(
        isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape
    ):
        raise ValueError(f"shape: expected a tuple of positive ints (one sample), got {shape!r}")
    if num_classes is not None:
        check_int("num_classes", num_classes, minimum=1)
    check_int("label_offset", label_offset, minimum=0)


__all__ = ["Sampleable", "Samples", "generate"]

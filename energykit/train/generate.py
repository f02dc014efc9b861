"""Draw samples from a trained model: descent for EqM fields, ODE integration for flow matching."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from energykit._checks import check_int, check_real
from energykit.descent import Descender
from energykit.fields import EnergyField, Guided
from energykit.flows import guided_velocity, integrate
from energykit.train.build import is_flow_matching, wrap_field
from energykit.train.config import SampleConfig

#: Default descent step: `DEFAULT_STEP_BUDGET / steps`, i.e. the paper's 0.0017 at 250 steps.
DEFAULT_STEP_BUDGET = 0.425


def default_lr(steps: int) -> float:
    """The descent step size used when none is given: $0.425 / K$ for a budget of $K$ steps
    (0.0017 at 250, the paper's NAG-GD step), so every budget travels the same path length."""
    return DEFAULT_STEP_BUDGET / steps


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
    """

    x: Tensor
    nfe_total: int
    steps: Tensor | None
    seconds: float
    y: Tensor | None = None
    failed: Tensor | None = None

    @property
    def nfe_mean(self) -> float:
        """Mean network evaluations per sample."""
        return self.nfe_total / len(self.x)


@torch.no_grad()
def generate(
    net: nn.Module,
    kind: str,
    shape: tuple[int, ...],
    cfg: SampleConfig,
    *,
    num_classes: int | None = None,
    device: str | torch.device = "cpu",
    label_offset: int = 0,
    field: EnergyField | None = None,
    **overrides: Any,
) -> Samples:
    """Sample `cfg.n` points from noise with the model's sampler.

    Args:
        net: The trained backbone (use the EMA weights).
        kind: The objective it was trained with (`eqm`, `eqm-dot`, `eqm-l2`, `fm`, `fm-uncond`).
        shape: Shape of one sample.
        cfg: Sampler settings; `overrides` replace single fields (e.g. `steps=50`).
        num_classes: For class-conditional nets: sample i gets label
            `(label_offset + i) % num_classes` (balanced classes). `cfg.cfg_scale` and
            `cfg.cfg_channels` set classifier-free guidance (null class `num_classes`).
        device: Where to sample.
        label_offset: Index of the first sample in a larger, sharded draw.
        field: For EqM kinds, descend on this field instead of the one `kind` wraps `net` in
            (e.g. a reference checkpoint from `energykit.interop.load_reference_eqm`).
        **overrides: `SampleConfig` fields to replace, e.g. `n=16`.

    Raises:
        TypeError: `cfg` is not a `SampleConfig`, an override is not one of its fields, or a
            setting has the wrong type.
        ValueError: a setting out of range (`n`, `batch`, `steps` < 1, `lr_scale` <= 0,
            negative `label_offset`, `num_classes` < 1, a bad `shape`), a sampler that does
            not suit `kind`, or `nonfinite="freeze"` with an ODE sampler.
    """
    cfg = _settings(cfg, overrides)
    fm = is_flow_matching(kind)
    if fm != (cfg.sampler in ("euler", "heun")):
        raise ValueError(
            f"sampler: {kind!r} models sample with "
            f"{'euler or heun' if fm else 'a descent optimiser (gd, nag, adam, ...)'}, "
            f"got {cfg.sampler!r}"
        )
    if fm and cfg.nonfinite != "raise":
        raise ValueError(
            f"nonfinite: {cfg.nonfinite!r} applies to descent samplers; the ODE sampler "
            f"{cfg.sampler!r} supports only 'raise'"
        )
    _check_draw(shape, num_classes, label_offset)
    gen = torch.Generator().manual_seed(cfg.seed)
    x0 = torch.randn((cfg.n, *shape), generator=gen).to(device)
    y = None
    if num_classes is not None:
        y = ((torch.arange(cfg.n) + label_offset) % num_classes).to(device)
    elif cfg.cfg_scale != 1.0:
        raise ValueError(
            f"cfg_scale: guidance needs a class-conditional model, got {cfg.cfg_scale}"
        )
    guide = num_classes is not None and cfg.cfg_scale != 1.0
    channels = None if cfg.cfg_channels is None else range(cfg.cfg_channels)
    net = net.eval()
    velocity: Any = net
    if fm and guide:
        assert num_classes is not None
        velocity = guided_velocity(net, cfg.cfg_scale, num_classes, channels=channels)
    outs, steps, failed, nfe = [], [], [], 0
    t0 = time.perf_counter()
    for start in range(0, cfg.n, cfg.batch):
        chunk = slice(start, start + cfg.batch)
        cond: dict[str, Any] = {} if y is None else {"y": y[chunk]}
        if fm:
            res = integrate(
                velocity,
                x0[chunk],
                steps=cfg.steps,
                method=cfg.sampler,
                time_conditional=kind == "fm",
                t_end=cfg.lr_scale,
                **cond,
            )
            outs.append(res.x)
            nfe += res.nfe * len(res.x)
        else:
            lr = (default_lr(cfg.steps) if cfg.lr is None else cfg.lr) * cfg.lr_scale
            extra: dict[str, Any] = (
                {"momentum": cfg.momentum} if cfg.sampler in ("nag", "naggd") else {}
            )
            base = wrap_field(net, kind) if field is None else field
            if guide:
                assert num_classes is not None
                base = Guided(base, cfg.cfg_scale, num_classes, channels=channels)
            result = Descender(
                base,
                cfg.sampler,
                lr=lr,
                steps=cfg.steps,
                g_min=cfg.g_min,
                nonfinite=cfg.nonfinite,
                **extra,
            ).run(x0[chunk], **cond)
            outs.append(result.x)
            steps.append(result.steps)
            failed.append(result.failed)
            nfe += result.nfe_total
    seconds = time.perf_counter() - t0
    return Samples(
        x=torch.cat(outs),
        nfe_total=nfe,
        steps=torch.cat(steps) if steps else None,
        seconds=seconds,
        y=y,
        failed=torch.cat(failed) if failed else None,
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
    cfg = dataclasses.replace(cfg, **overrides)
    for key in ("n", "batch", "steps"):
        check_int(key, getattr(cfg, key), minimum=1)
    check_real("lr_scale", cfg.lr_scale, minimum=0.0, strict=True)
    if cfg.nonfinite not in ("raise", "freeze"):
        raise ValueError(f"nonfinite: expected 'raise' or 'freeze', got {cfg.nonfinite!r}")
    return cfg


def _check_draw(shape: tuple[int, ...], num_classes: int | None, label_offset: int) -> None:
    if not isinstance(shape, (tuple, list)) or not all(
        isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape
    ):
        raise ValueError(f"shape: expected a tuple of positive ints (one sample), got {shape!r}")
    if num_classes is not None:
        check_int("num_classes", num_classes, minimum=1)
    check_int("label_offset", label_offset, minimum=0)

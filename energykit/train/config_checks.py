"""Range and consistency checks of a `TrainConfig` that types alone cannot express.

Each check raises `ConfigError` naming the key, what was expected and what came.
"""

from __future__ import annotations

from typing import Final, Literal

from energykit._config import ConfigError
from energykit.data.registry import DATASET_NAMES, DatasetInfo, dataset_info
from energykit.objectives.kinds import objective_kind
from energykit.sampling.config import SampleConfig
from energykit.track.names import parse_track
from energykit.train.sections import (
    DataConfig,
    LoopConfig,
    NetConfig,
    ObjectiveConfig,
    OptimConfig,
)

#: `data.name` and `net.kind` of a run on data / a network of the user's own.
CUSTOM: Final[Literal["custom"]] = "custom"


def validate(
    data: DataConfig,
    net: NetConfig,
    objective: ObjectiveConfig,
    optim: OptimConfig,
    train: LoopConfig,
    sample: SampleConfig,
) -> None:
    """Range and consistency checks of a config's sections that types alone cannot express."""
    info = _check_data(data)
    _check_net(net, data, info)
    _check_objective(objective, optim)
    _check_loop(train, objective)
    _check_sample(sample, data, objective)


def _positive(key: str, value: float | int | None, *, strict: bool = True) -> None:
    if value is not None and (value <= 0 if strict else value < 0):
        relation = "> 0" if strict else ">= 0"
        raise ConfigError(f"{key}: expected a value {relation}, got {value!r}")


def _check_data(d: DataConfig) -> DatasetInfo | None:
    """The `data` section's checks; returns the dataset's entry in the list of datasets
    (`None` for data of the user's own)."""
    if not 0.0 < d.test_fraction < 1.0:
        raise ConfigError(f"data.test_fraction: expected a value in (0, 1), got {d.test_fraction}")
    if not 0.0 <= d.label_dropout < 1.0:
        raise ConfigError(f"data.label_dropout: expected a value in [0, 1), got {d.label_dropout}")
    _positive("data.split_seed", d.split_seed, strict=False)
    _positive("data.holdout", d.holdout, strict=False)
    _positive("data.num_classes", d.num_classes)
    _positive("data.size", d.size)
    _positive("data.workers", d.workers, strict=False)
    if d.name == CUSTOM:
        return None
    if d.source is not None:
        raise ConfigError(
            f"data.source: recorded only for data of your own (data.name={CUSTOM!r}), got "
            f"{d.source!r} with data.name={d.name!r}"
        )
    try:
        data = dataset_info(d.name)
    except ValueError:
        names = ", ".join(map(repr, DATASET_NAMES))
        raise ConfigError(
            f"data.name: expected one of {names} (or {CUSTOM!r}, recorded by Trainer(data=...)), "
            f"got {d.name!r}"
        ) from None
    if data.family in ("files", "latents") and not d.path:
        what = {"latents": "latent folder", "cifar10": "cifar-10-batches-bin folder"}
        raise ConfigError(
            f"data.path: data.name={d.name!r} needs the {what.get(d.name, 'image folder')}, "
            "got None"
        )
    if d.name == "folder" and d.size is None:
        raise ConfigError("data.size: data.name='folder' needs the image side, got None")
    if d.class_conditional and not data.images:
        raise ConfigError(f"data.class_conditional: toy data {d.name!r} has no labels")
    return data


def _check_net(n: NetConfig, d: DataConfig, data: DatasetInfo | None) -> None:
    if n.kind == CUSTOM:
        return
    if n.class_name is not None:
        raise ConfigError(
            f"net.class_name: recorded only for a network of your own (net.kind={CUSTOM!r}), "
            f"got {n.class_name!r} with net.kind={n.kind!r}"
        )
    if n.kind == "dit":
        from energykit.nets.dit import preset_kwargs

        try:
            preset_kwargs(n.preset)
        except ValueError as err:
            raise ConfigError(f"net.preset: {err}") from None
    for key in ("width", "depth", "patch", "time_dim", "dit_depth", "dit_width", "dit_heads"):
        _positive(f"net.{key}", getattr(n, key))
    if not n.channels or min(n.channels) < 1:
        raise ConfigError(f"net.channels: expected positive channel counts, got {n.channels}")
    if n.kind == "unet" and data is not None and not data.images:
        raise ConfigError(f"net.kind: 'unet' needs an image dataset, got data.name={d.name!r}")


def _check_objective(o: ObjectiveConfig, p: OptimConfig) -> None:
    if not 0.0 < o.a < 1.0:
        raise ConfigError(f"objective.a: expected a value in (0, 1), got {o.a}")
    _positive("objective.b", o.b)
    _positive("objective.scale", o.scale)
    _positive("objective.sinkhorn_reg", o.sinkhorn_reg)
    _positive("objective.sinkhorn_iterations", o.sinkhorn_iterations)
    _positive("optim.lr", p.lr)
    _positive("optim.weight_decay", p.weight_decay, strict=False)
    _positive("optim.grad_clip", p.grad_clip)
    if not all(0.0 <= beta < 1.0 for beta in p.betas):
        raise ConfigError(f"optim.betas: expected two values in [0, 1), got {p.betas}")


def _check_loop(t: LoopConfig, o: ObjectiveConfig) -> None:
    for key in ("steps", "batch", "grad_accum"):
        _positive(f"train.{key}", getattr(t, key))
    if t.batch % t.grad_accum:
        raise ConfigError(
            f"train.batch: expected a multiple of train.grad_accum={t.grad_accum}, got {t.batch}"
        )
    if t.parallel == "fsdp" and objective_kind(o.kind).has_energy:
        raise ConfigError(
            f"train.parallel: 'fsdp' is refused for explicit-energy heads ({o.kind!r}): FSDP2 "
            "with the double backward they need crashed or gave near-zero gradients in our "
            "tests; use train.parallel=ddp"
        )
    for key in ("seed", "log_every", "eval_every", "ckpt_every", "keep_every", "sample_every"):
        _positive(f"train.{key}", getattr(t, key), strict=False)
    parse_track(t.track)
    if not 0.0 <= t.ema_decay < 1.0:
        raise ConfigError(f"train.ema_decay: expected a value in [0, 1), got {t.ema_decay}")
    if t.compile and objective_kind(o.kind).has_energy:
        raise ConfigError(
            f"train.compile: refused for the explicit-energy head {o.kind!r} (torch.compile "
            "does not support the double backward it trains with); set train.compile=false"
        )


def _check_sample(s: SampleConfig, d: DataConfig, o: ObjectiveConfig) -> None:
    flow_matching = objective_kind(o.kind).flow_matching
    s.check(flow_matching=flow_matching, class_conditional=d.class_conditional)

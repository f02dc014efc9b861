"""What a `Trainer` trains: the config as recorded, the data source and the backbone, from
the config's `data`/`net` sections or from the user's own data and `nn.Module`.

A user's network or data replaces the config's section, which is then recorded as
`net: {kind: custom, class_name: ...}` / `data: {name: custom, source: ..., ...}` (see
`energykit.train.config`), so `config.json` and checkpoints never name a backbone or dataset
that was not used, and a resume passing other data or another class is refused.
"""

from __future__ import annotations

import dataclasses
from typing import cast

import torch
from torch import Tensor, nn

from energykit.objectives import objective_kind
from energykit.train.build import build_net
from energykit.train.config import DataConfig, NetConfig, TrainConfig
from energykit.train.config_checks import CUSTOM
from energykit.train.data import DataSource, build_data
from energykit.train.own_data import DatasetSource, as_source


def resolve_run(
    config: TrainConfig, net: object = None, data: object = None
) -> tuple[TrainConfig, DataSource, nn.Module]:
    """The config as the run records it, its data and its backbone.

    The torch RNG is seeded with `train.seed` after the data is set up and before a built-in
    backbone is initialised (a user's module keeps its weights).

    Raises:
        TypeError: `config`, `net` or `data` is of the wrong type.
        ValueError: the config records a network or data of the user's own that is not
            passed, or the data's classes disagree with the config.
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"Trainer config: expected a TrainConfig, got {type(config).__name__}")
    if net is not None:
        check_module(net)
    _check_recorded(config, net, data)
    source, recorded = _data(config, data)
    torch.manual_seed(config.train.seed)
    if net is None:
        classes = source.num_classes if config.data.class_conditional else None
        net = build_net(config.net, config.objective, source.shape, classes)
        net_cfg = config.net
    else:
        net_cfg = NetConfig(kind=CUSTOM, class_name=type(net).__qualname__)
    resolved = dataclasses.replace(config, data=recorded, net=net_cfg)
    if resolved == config:
        return config, source, cast(nn.Module, net)
    # Normalised, so that the recorded config round-trips through to_dict / from_dict.
    return TrainConfig.from_dict(resolved.to_dict()), source, cast(nn.Module, net)


def check_module(net: object) -> None:
    """`net` is a trainable backbone: an `nn.Module` with parameters, not an energy field."""
    if not isinstance(net, nn.Module):
        raise TypeError(f"Trainer net: expected a torch.nn.Module, got {type(net).__name__}")
    if hasattr(net, "gradient") and hasattr(net, "has_energy"):
        raise TypeError(
            f"Trainer net: expected the backbone (a module whose output is shaped like its "
            f"input), got the energy field {type(net).__name__}; objective.kind chooses the head"
        )
    if not any(p.requires_grad for p in net.parameters()):
        raise ValueError(f"Trainer net: {type(net).__name__} has no trainable parameters")


def _check_recorded(config: TrainConfig, net: object, data: object) -> None:
    """A config recording a network / data of the user's own (e.g. a run's `config.json`)
    needs them passed again."""
    if net is None and config.net.kind == CUSTOM:
        raise ValueError(
            f"Trainer net: the config records a network of your own (net.kind={CUSTOM!r}, "
            f"class {config.net.class_name!r}); pass it: Trainer(config, out, net=module)"
        )
    if data is None and config.data.name == CUSTOM:
        raise ValueError(
            f"Trainer data: the config records data of your own (data.name={CUSTOM!r}, "
            f"{config.data.source!r}); pass it: Trainer(config, out, data=...)"
        )
    d = config.data
    if d.num_classes is not None and not d.class_conditional:
        raise ValueError(
            f"data.num_classes: used only with data.class_conditional=true, got "
            f"{d.num_classes} for unconditional training"
        )


def _data(config: TrainConfig, data: object) -> tuple[DataSource, DataConfig]:
    """The data source and the `data` section recorded for it."""
    d = config.data
    if data is None:
        source = build_data(d)
        if d.num_classes is not None and d.num_classes != source.num_classes:
            raise ValueError(
                f"data.num_classes: the {d.name!r} dataset has {source.num_classes} classes, "
                f"got {d.num_classes}"
            )
        return source, d
    source, description = as_source(data, d)
    recorded = DataConfig(
        name=CUSTOM,
        source=description,
        class_conditional=d.class_conditional,
        label_dropout=d.label_dropout,
        num_classes=source.num_classes if d.class_conditional else None,
        workers=d.workers,
    )
    return source, recorded


def check_net_output(
    net: nn.Module, config: TrainConfig, data: DataSource, device: torch.device
) -> None:
    """One forward pass of a user's `net` on one sample (in eval mode, without gradients, the
    RNG left as it was): it must take the inputs its objective gives and return a tensor
    shaped like `x`.

    Raises:
        TypeError: the samples' dtype differs from the net's parameters'.
        ValueError: the call fails, or the output is not a tensor shaped like `x`.
    """
    x = data.x_test[:1].to(device)
    weights = next((p for p in net.parameters() if p.is_floating_point()), None)
    if weights is not None and weights.dtype != x.dtype:
        raise TypeError(
            f"Trainer data: samples are {x.dtype} but the net's parameters are "
            f"{weights.dtype}; convert one to the other (e.g. x.float() or net.double())"
        )
    args, kwargs, needs = _inputs(config, data, device)
    modes = {m: m.training for m in net.modules()}
    devices = [device.index or 0] if device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            net.eval()
            out = net(x, *args, **kwargs)
    except Exception as err:  # a user's module: any error is reported as the same misfit
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise ValueError(
            f"Trainer net: a forward pass of {type(net).__name__} on one sample "
            f"{tuple(x.shape)} failed ({type(err).__name__}: {first}); it must take {needs}"
        ) from err
    finally:
        for module, training in modes.items():
            module.train(training)
    if not isinstance(out, Tensor) or out.shape != x.shape:
        got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise ValueError(
            f"Trainer net: {type(net).__name__} must return a tensor shaped like its input "
            f"{tuple(x.shape)}, got {got}"
        )


def _inputs(
    config: TrainConfig, data: DataSource, device: torch.device
) -> tuple[list[Tensor], dict[str, Tensor], str]:
    """The extra inputs the objective passes (time, labels) for one sample, and what the net
    must accept, in words."""
    needs = "x (B, *shape)"
    args: list[Tensor] = []
    if objective_kind(config.objective.kind).time_conditional:
        args.append(torch.full((1,), 0.5, device=device))
        needs += ", t (B,)"
    kwargs: dict[str, Tensor] = {}
    classes = data.num_classes if config.data.class_conditional else None
    if classes is not None:
        # The null label of label dropout and guidance is `num_classes`.
        null = config.data.label_dropout > 0 or config.sample.cfg_scale != 1.0
        kwargs["y"] = torch.full((1,), classes if null else 0, dtype=torch.long, device=device)
        needs += f", y=labels (B,) in [0, {classes}]" if null else ", y=labels (B,)"
    return args, kwargs, needs + " and return a tensor shaped like x"


def prefetch_enabled(setting: bool | None, device: torch.device, data: DataSource) -> bool:
    """Whether `train.prefetch` draws batches ahead on a thread: as set, or (`None`) on CUDA
    for the built-in data sources. A `Dataset` of the user's own is left out of the default,
    since its `__getitem__` might draw from torch's global RNG, which the training step uses
    too (prefetch would then change the draws); `train.prefetch=true` turns it on anyway."""
    if setting is not None:
        return setting
    return device.type == "cuda" and not isinstance(data, DatasetSource)

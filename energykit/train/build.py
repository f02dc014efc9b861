"""Turn a `TrainConfig`'s sections into the objects they name: backbone, objective (with its
$c(\\gamma)$) and the training optimiser."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from energykit.nets import MLP, DiT, UNet
from energykit.objectives import (
    Constant,
    Coupling,
    EqMLoss,
    FlowMatchingLoss,
    LinearDecay,
    Piecewise,
    Schedule,
    Sinkhorn,
    TruncatedDecay,
    coupling_named,
    objective_kind,
)
from energykit.train.config import NetConfig, ObjectiveConfig, OptimConfig, TrainConfig
from energykit.train.config_checks import CUSTOM


def build_net(
    cfg: NetConfig, objective: ObjectiveConfig, shape: tuple[int, ...], num_classes: int | None
) -> nn.Module:
    """The backbone; only a time-conditional objective (FM) gets a time input."""
    time_dim = cfg.time_dim if objective_kind(objective.kind).time_conditional else None
    if cfg.kind == "dit":
        if len(shape) != 3 or shape[1] != shape[2]:
            raise ValueError(f"net.kind: 'dit' needs square (C, H, W) inputs, got shape {shape}")
        sizes = {"depth": cfg.dit_depth, "hidden_size": cfg.dit_width, "num_heads": cfg.dit_heads}
        return DiT.preset(
            cfg.preset,
            **{k: v for k, v in sizes.items() if v is not None},
            input_size=shape[1],
            in_channels=shape[0],
            num_classes=num_classes,
            class_dropout_prob=0.1 if num_classes else 0.0,
            learn_sigma=cfg.learn_sigma,
            grad_checkpointing=cfg.grad_checkpointing,
        )
    if cfg.kind == "unet":
        if len(shape) != 3:
            raise ValueError(f"net.kind: 'unet' needs images (C, H, W), got sample shape {shape}")
        factor = cfg.patch * 2 ** (len(cfg.channels) - 1)
        if shape[1] % factor or shape[2] % factor:
            raise ValueError(
                f"net.patch, net.channels: {shape[1]}x{shape[2]} images need H and W divisible "
                f"by patch * 2**(levels - 1) = {factor} (patch {cfg.patch}, "
                f"{len(cfg.channels)} levels)"
            )
        return UNet(
            shape[0],
            cfg.channels,
            time_dim=time_dim,
            num_classes=num_classes,
            patch=cfg.patch,
            attention=cfg.attention,
        )
    return MLP(
        math.prod(shape),
        cfg.width,
        cfg.depth,
        time_dim=time_dim,
        num_classes=num_classes,
        activation=cfg.activation,
        skip=cfg.skip,
    )


def net_for(
    cfg: TrainConfig,
    shape: tuple[int, ...],
    classes: int | None,
    net: nn.Module | None,
    where: str,
) -> nn.Module:
    """`net` (checked to be a module), or the backbone `cfg.net` names, built on the CPU.

    Raises:
        ValueError: `cfg` records a network of the user's own and `net` is `None`.
        TypeError: `net` is not an `nn.Module`.
    """
    if net is None:
        if cfg.net.kind == CUSTOM:
            raise ValueError(
                f"{where}: trained with a network of your own (class {cfg.net.class_name!r}); "
                f"it holds weights only, so pass the module: load_trained(path, "
                f"net={cfg.net.class_name}(...))"
            )
        return build_net(cfg.net, cfg.objective, shape, classes)
    if not isinstance(net, nn.Module):
        raise TypeError(f"load_trained net: expected a torch.nn.Module, got {type(net).__name__}")
    return net


def build_schedule(cfg: ObjectiveConfig) -> Schedule:
    """$c(\\gamma)$ from its config."""
    if cfg.schedule == "truncated":
        return TruncatedDecay(a=cfg.a, scale=cfg.scale)
    if cfg.schedule == "linear":
        return LinearDecay(scale=cfg.scale)
    if cfg.schedule == "piecewise":
        return Piecewise(a=cfg.a, b=cfg.b, scale=cfg.scale)
    return Constant(cfg.scale)


def build_coupling(cfg: ObjectiveConfig) -> Coupling:
    """The pairing of noise and data of `cfg.coupling` (with its Sinkhorn knobs)."""
    if cfg.coupling == "sinkhorn":
        return Sinkhorn(cfg.sinkhorn_reg, cfg.sinkhorn_iterations)
    return coupling_named(cfg.coupling)


def build_objective(cfg: ObjectiveConfig) -> EqMLoss | FlowMatchingLoss:
    """The loss object for `cfg.kind` (`energykit.objectives.OBJECTIVE_KINDS`)."""
    return objective_kind(cfg.kind).loss(build_schedule(cfg), build_coupling(cfg))


def training_optimizer(
    model: nn.Module, cfg: OptimConfig, device: torch.device, *, sharded: bool
) -> tuple[torch.optim.Optimizer, bool]:
    """The optimiser over `model`'s parameters, fused where the device supports it (a fused
    step reads the divergence flag on the device, `found_inf`, and is a no-op when it is set;
    not for FSDP-sharded parameters), and whether it is fused."""
    cls: Any = {"adamw": torch.optim.AdamW, "adam": torch.optim.Adam}.get(cfg.name)
    kw: dict[str, Any] = {"lr": cfg.lr, "weight_decay": cfg.weight_decay}
    if cls is None:
        cls = torch.optim.SGD
    else:
        kw["betas"] = cfg.betas
    if not sharded and device.type in ("cpu", "cuda"):
        try:
            return cls(model.parameters(), fused=True, **kw), True
        except (RuntimeError, ValueError):  # e.g. parameters of an unsupported dtype
            pass
    return cls(model.parameters(), **kw), False

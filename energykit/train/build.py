"""Turn a `TrainConfig` into the objects it names: data source, backbone, objective, field."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from energykit.data import LATENTS, dataset_info, load_images, sample_toy
from energykit.nets import MLP, DiT, UNet
from energykit.objectives import (
    Constant,
    EqMLoss,
    FlowMatchingLoss,
    LinearDecay,
    Piecewise,
    Schedule,
    TruncatedDecay,
    objective_kind,
)
from energykit.train.config import DataConfig, NetConfig, ObjectiveConfig

#: Number of held-out points drawn for 2-D toy evaluation.
TOY_TEST_SIZE = 2000


@dataclass
class DataSource:
    """Training batches and a fixed held-out set for one dataset.

    Attributes:
        name: Dataset name.
        shape: Shape of one sample, e.g. `(2,)` or `(1, 8, 8)`.
        x_test: Held-out samples `(N, *shape)` used by evaluation.
        y_test: Held-out labels `(N,)`, or `None` for toy data.
        num_classes: Number of classes, or `None` for toy data.
        x_train: Training images `(N, *shape)`, or `None` for toy data (drawn fresh).
        y_train: Training labels, or `None`.
    """

    name: str
    shape: tuple[int, ...]
    x_test: Tensor
    y_test: Tensor | None
    num_classes: int | None
    x_train: Tensor | None = None
    y_train: Tensor | None = None

    def batch(self, size: int, generator: torch.Generator) -> tuple[Tensor, Tensor | None]:
        """A training batch `(size, *shape)` (and labels), drawn with replacement by
        `generator` (a CPU generator, so the draw is the same on every device)."""
        if self.x_train is None:
            return sample_toy(self.name, size, generator=generator), None
        idx = torch.randint(len(self.x_train), (size,), generator=generator)
        return self.x_train[idx], None if self.y_train is None else self.y_train[idx]


class LatentData(DataSource):
    """Cached VAE latents (`energykit latents`) as training batches.

    Each batch draws images uniformly with replacement from the training indices, then a
    fresh posterior sample (and mirrored view, when `data.flip`) for each, all from the data
    generator, so resuming is exact. `x_test` holds scaled posterior means: of the
    `data.holdout` held-out images, or (without a hold-out) of 512 fixed training images, for
    monitoring only.
    """

    def __init__(self, cfg: DataConfig) -> None:
        from energykit.data.latents import LatentStore

        if cfg.path is None:
            raise ValueError("data.path: data.name='latents' needs the latent folder, got None")
        self.store = LatentStore(cfg.path, flip=cfg.flip)
        n = len(self.store)
        if cfg.holdout >= n:
            raise ValueError(f"data.holdout: expected fewer than the {n} images, got {cfg.holdout}")
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(cfg.split_seed))
        self.train_index = perm[cfg.holdout :].sort().values if cfg.holdout else torch.arange(n)
        shown = perm[: cfg.holdout] if cfg.holdout else perm[: min(512, n)]
        shown = shown.sort().values
        super().__init__(
            name=LATENTS,
            shape=tuple(self.store.shape),
            x_test=self.store.mean_latents(shown),
            y_test=self.store.labels[shown],
            num_classes=self.store.num_classes,
        )

    def batch(self, size: int, generator: torch.Generator) -> tuple[Tensor, Tensor | None]:
        """Scaled posterior samples `(size, C, h, w)` and their labels."""
        pick = torch.randint(len(self.train_index), (size,), generator=generator)
        idx = self.train_index[pick]
        return self.store.sample(idx, generator), self.store.labels[idx]


def build_data(cfg: DataConfig) -> DataSource:
    """Load (or set up the sampler of) the dataset `cfg.name`."""
    family = dataset_info(cfg.name).family
    if family == "latents":
        return LatentData(cfg)
    if family == "toy":
        gen = torch.Generator().manual_seed(10_000 + cfg.split_seed)
        test = sample_toy(cfg.name, TOY_TEST_SIZE, generator=gen)
        return DataSource(cfg.name, (2,), test, None, None)
    split = load_images(
        cfg.name, test_fraction=cfg.test_fraction, split_seed=cfg.split_seed, path=cfg.path
    )
    return DataSource(
        cfg.name,
        split.shape,
        split.x_test,
        split.y_test,
        split.num_classes,
        split.x_train,
        split.y_train,
    )


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


def build_schedule(cfg: ObjectiveConfig) -> Schedule:
    """$c(\\gamma)$ from its config."""
    if cfg.schedule == "truncated":
        return TruncatedDecay(a=cfg.a, scale=cfg.scale)
    if cfg.schedule == "linear":
        return LinearDecay(scale=cfg.scale)
    if cfg.schedule == "piecewise":
        return Piecewise(a=cfg.a, b=cfg.b, scale=cfg.scale)
    return Constant(cfg.scale)


def build_objective(cfg: ObjectiveConfig) -> EqMLoss | FlowMatchingLoss:
    """The loss object for `cfg.kind` (`energykit.objectives.OBJECTIVE_KINDS`)."""
    return objective_kind(cfg.kind).loss(build_schedule(cfg))


def wrap_field(net: nn.Module, kind: str) -> Any:
    """Deprecated: use `TrainedModel.field()`, or `objective_kind(kind).field(net)`."""
    warnings.warn(
        "energykit.train.build.wrap_field is deprecated; use TrainedModel.field() or "
        "energykit.objectives.objective_kind(kind).field(net)",
        DeprecationWarning,
        stacklevel=2,
    )
    return objective_kind(kind).field(net)

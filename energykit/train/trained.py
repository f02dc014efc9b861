"""A trained model ready for sampling, `TrainedModel`, and `load_trained`, which rebuilds one
from a `Trainer` checkpoint (weights only are stored; the config names the backbone)."""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import torch
from torch import nn

from energykit.objectives import ObjectiveKindSpec, kind_of_field, objective_kind
from energykit.sampling import Landscape, Sampleable, Velocity
from energykit.train.build import build_net
from energykit.train.checkpoint import (
    check_trainer_payload,
    check_weights_fit,
    load_checkpoint,
    nonfinite_entries,
    payload_digest,
)
from energykit.train.config import TrainConfig
from energykit.train.config_checks import CUSTOM

if TYPE_CHECKING:
    from energykit.fields import EnergyField


@dataclass(eq=False)
class TrainedModel:
    """A trained model ready for sampling: the EMA backbone, what it was trained as, and the
    field or velocity it defines, built once (`field()` / `velocity()`).

    Attributes:
        net: The EMA (or, with `weights="raw"`, the last step's) weights, in eval mode.
        kind: Objective kind it was trained with (`energykit.objectives.OBJECTIVE_KINDS`).
        shape: Shape of one sample.
        num_classes: Classes for conditioning, or `None`.
        config: The full training config.
        step: Training steps taken.
    """

    net: nn.Module
    kind: str
    shape: tuple[int, ...]
    num_classes: int | None
    config: TrainConfig
    step: int
    #: Which weights `net` holds: `"ema"` (the moving average) or `"raw"` (the last step's).
    weights: str = "ema"
    _built: Sampleable | None = dataclasses.field(default=None, init=False, repr=False)

    def __repr__(self) -> str:
        params = sum(p.numel() for p in self.net.parameters())
        return (
            f"TrainedModel(kind={self.kind!r}, shape={self.shape}, num_classes="
            f"{self.num_classes}, step={self.step}, weights={self.weights!r}, "
            f"net={type(self.net).__name__} "
            f"({params:,} parameters), data={self.config.data.name!r})"
        )

    @classmethod
    def from_field(
        cls,
        energy: EnergyField,
        *,
        shape: tuple[int, ...],
        num_classes: int | None,
        config: TrainConfig,
        step: int = 0,
    ) -> TrainedModel:
        """A model whose field is `energy` as it is (an `ImplicitField`, `DotEnergy` or
        `L2Energy` over its `net`), e.g. a reference checkpoint converted to the paper's sign
        by `energykit.interop.load_reference_eqm`; its kind follows from the head."""
        spec = kind_of_field(energy)
        model = cls(cast(nn.Module, energy.net), spec.name, shape, num_classes, config, step)
        model._built = energy
        return model

    def with_field(self, energy: EnergyField) -> TrainedModel:
        """The same model (weights, config, step), sampled through `energy` instead of the
        field its kind defines, e.g. a wrapper of `self.field()` (EqM models only)."""
        self.field()  # raises for flow matching
        model = dataclasses.replace(self)
        model._built = energy
        return model

    @property
    def spec(self) -> ObjectiveKindSpec:
        """The row of the table of objective kinds for `kind`."""
        return objective_kind(self.kind)

    @property
    def dataset(self) -> str:
        """The dataset it was trained on (`config.data.name`)."""
        return self.config.data.name

    @property
    def landscape(self) -> Landscape | None:
        """The truncated $c(\\gamma)$ it was trained with, which the few-step default sampler
        is built from; `None` for flow matching and the other schedules."""
        objective = self.config.objective
        if self.spec.flow_matching or objective.schedule != "truncated":
            return None
        return Landscape(objective.a, objective.scale)

    def binding(self, cfg_scale: float = 1.0) -> dict[str, Any]:
        """What a calibrated solver file records of the model it was fitted for (and
        `Solver.check_model` compares): the SHA-256 of the sampled weights, kind, shape,
        classes, dataset, which weights, and the guidance scale."""
        return {
            "weights_sha256": payload_digest(self.net.state_dict()),
            "kind": self.kind,
            "shape": list(self.shape),
            "num_classes": self.num_classes,
            "dataset": self.dataset,
            "weights": self.weights,
            "cfg_scale": float(cfg_scale),
        }

    def field(self) -> EnergyField:
        """The `EnergyField` to descend on (built once, then the same object).

        Raises:
            ValueError: the model is flow matching (it defines a velocity: `velocity()`).
        """
        if self.spec.flow_matching:
            raise ValueError(
                f"TrainedModel.field: a {self.kind!r} model is flow matching and defines a "
                "velocity, not an energy field; use .velocity()"
            )
        return cast("EnergyField", self.sampleable())

    def velocity(self) -> Velocity:
        """The `flows.Velocity` to integrate (built once, then the same object).

        Raises:
            ValueError: the model is EqM (it defines an energy field: `field()`).
        """
        if not self.spec.flow_matching:
            raise ValueError(
                f"TrainedModel.velocity: a {self.kind!r} model is EqM and defines an energy "
                "field, not a velocity; use .field()"
            )
        return cast(Velocity, self.sampleable())

    def sampleable(self) -> Sampleable:
        """What `energykit.sampling.generate` samples: `field()` for EqM kinds, `velocity()`
        for flow matching (built once, from the table of objective kinds)."""
        if self._built is None:
            spec = self.spec
            self._built = (
                Velocity(self.net, spec.time_conditional)
                if spec.flow_matching
                else spec.field(self.net)
            )
        return self._built


def load_trained(
    path: str | Path,
    *,
    net: nn.Module | None = None,
    device: str | torch.device = "cpu",
    weights: Literal["ema", "raw"] = "ema",
) -> TrainedModel:
    """Rebuild the EMA model (or the raw trained weights) stored in a `Trainer` checkpoint.

    Loading an EMA whose initial copy still weighs more than 1/2 (a short run without
    `train.ema_warmup`: $d^T > 1/2$, e.g. 400 steps at $d = 0.999$) warns once: its samples
    come mostly from the random initialisation; use `weights="raw"` or the warm-up.

    Args:
        path: The checkpoint (`last.pt`, `step_*.pt`).
        net: The module to load the EMA weights into, instead of the backbone the config
            names (for runs trained with a network of the user's own; checkpoints hold
            weights only).
        device: Where the checkpoint's tensors are read to (the module itself is built on
            the CPU; `energykit sample` moves it to its device).
        weights: `"ema"` (the moving average, used for sampling) or `"raw"` (the trained
            weights of the last step).

    Raises:
        FileNotFoundError, UnreadableFileError, CorruptCheckpointError: see `load_checkpoint`.
        ValueError: not a `Trainer` checkpoint (or one missing keys), its EMA weights hold
            NaN/inf, it was trained with a network of your own and `net` is not given, or
            the weights do not fit `net` (names and shapes).
        TypeError: `net` is not an `nn.Module`.
    """
    key = {"ema": "ema", "raw": "model"}.get(weights)
    if key is None:
        raise ValueError(f"load_trained weights: expected 'ema' or 'raw', got {weights!r}")
    payload = load_checkpoint(path, device)
    where = f"checkpoint {str(path)!r}"
    keys = ("config", "step", "shape", "num_classes", "ema_counters", key)
    check_trainer_payload(payload, where, keys)
    cfg = TrainConfig.from_dict(payload["config"])
    _check_weights(payload, weights, key, where)
    shape = tuple(payload["shape"])
    classes = payload["num_classes"]
    if net is None:
        if cfg.net.kind == CUSTOM:
            raise ValueError(
                f"{where}: trained with a network of your own (class {cfg.net.class_name!r}); "
                f"checkpoints hold weights only, so pass the module: load_trained(path, "
                f"net={cfg.net.class_name}(...))"
            )
        net = build_net(cfg.net, cfg.objective, shape, classes)
    elif not isinstance(net, nn.Module):
        raise TypeError(f"load_trained net: expected a torch.nn.Module, got {type(net).__name__}")
    check_weights_fit(net, payload[key], where)
    net.load_state_dict(payload[key])
    step = int(payload["step"])
    return TrainedModel(net.eval(), cfg.objective.kind, shape, classes, cfg, step, weights)


#: Above this weight of its initial copy an EMA is reported as mostly untrained.
FRESH_EMA_WEIGHT = 0.5


def _check_weights(payload: dict[str, Any], weights: str, key: str, where: str) -> None:
    """Refuse non-finite weights; warn about an EMA that is still mostly its initial copy."""
    bad = nonfinite_entries(payload[key])
    if bad:
        raise ValueError(
            f"{where}: the {weights} weights hold NaN/inf ({', '.join(bad[:5])}); load an "
            "earlier checkpoint"
        )
    if weights == "ema":
        _warn_if_fresh_ema(payload, where)


def _warn_if_fresh_ema(payload: dict[str, Any], where: str) -> None:
    """Warn when the EMA's initial copy weighs more than `FRESH_EMA_WEIGHT` ($\\prod_t d_t$,
    recorded by the Trainer)."""
    step = int(payload["step"])
    weight = float(payload["ema_counters"]["initial_weight"])
    if weight > FRESH_EMA_WEIGHT:
        warnings.warn(
            f"{where}: the EMA after {step} steps still weighs its initial (random) weights "
            f"{weight:.2f}, so its samples are mostly noise; train longer, use "
            "train.ema_warmup=true, or sample the raw weights (--weights raw)",
            UserWarning,
            stacklevel=4,
        )

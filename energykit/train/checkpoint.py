"""Checkpoint files: atomic, checksummed, finite, and loaded without executing code; and the
model they hold, `TrainedModel` (`load_trained`).

`save_checkpoint` refuses a payload holding a non-finite float, adds the SHA-256 digest of
its content under `"sha256"`, and writes it atomically (temporary file, fsync, rename). The
digest covers every tensor's dtype, shape and bytes and every other value, walked in a
fixed order, so `load_checkpoint` can recompute it from what it read: a flipped byte inside
a tensor record, which `torch.load` itself does not notice, is refused.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import torch
from torch import Tensor, nn

from energykit._io import UnreadableFileError, atomic_save, load_torch
from energykit.objectives import ObjectiveKindSpec, kind_of_field, objective_kind
from energykit.sampling import Landscape, Sampleable, Velocity
from energykit.train.build import build_net
from energykit.train.config import TrainConfig
from energykit.train.config_checks import CUSTOM
from energykit.train.integrity import name_list, nonfinite_entries, payload_digest

if TYPE_CHECKING:
    from energykit.fields import EnergyField

#: Key of the content digest inside a checkpoint.
DIGEST_KEY = "sha256"

#: Marks files written by `Trainer`; `load_trained` refuses anything else.
CHECKPOINT_FORMAT = "energykit.trainer/1"


class CorruptCheckpointError(UnreadableFileError):
    """A checkpoint's content does not match the digest written with it."""


def save_checkpoint(payload: dict[str, Any], path: str | Path) -> Path:
    """Write `payload` (plus its digest) with `torch.save` to `path` atomically.

    Raises:
        FloatingPointError: a floating-point tensor in `payload` holds NaN or inf (nothing is
            written; the message names the entries).
    """
    bad = nonfinite_entries(payload)
    if bad:
        raise FloatingPointError(
            f"checkpoint {str(path)!r}: not written, non-finite values in {name_list(bad)}"
        )
    return write_checkpoint(payload, path)


def write_checkpoint(payload: dict[str, Any], path: str | Path) -> Path:
    """`save_checkpoint` without the finiteness scan, for a caller that has just made it
    (the `Trainer`, which must agree on it across ranks before rank 0 writes)."""
    body = {k: v for k, v in payload.items() if k != DIGEST_KEY}
    return atomic_save({**body, DIGEST_KEY: payload_digest(body)}, path)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by `save_checkpoint` (or by `Trainer`) and verify its digest.

    Files written before digests existed (no `"sha256"` key) load unverified.

    Raises:
        FileNotFoundError: no file at `path`.
        UnreadableFileError: empty, truncated, not a checkpoint, or holding forbidden objects.
        CorruptCheckpointError: the content does not match its digest.
    """
    payload = load_torch(path, what="checkpoint", map_location=map_location)
    if not isinstance(payload, dict):
        raise UnreadableFileError(
            f"checkpoint {str(path)!r}: expected a dict, got {type(payload).__name__}"
        )
    stored = payload.pop(DIGEST_KEY, None)
    if stored is not None and stored != payload_digest(payload):
        raise CorruptCheckpointError(
            f"checkpoint {str(path)!r}: content does not match the checksum written with it "
            "(the file was damaged or changed after it was saved); refusing to load it"
        )
    return payload


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
    map_location: str | torch.device | None = None,
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
        map_location: Older name of `device`, kept for positional callers.
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
    payload = load_checkpoint(path, device if map_location is None else map_location)
    where = f"checkpoint {str(path)!r}"
    check_trainer_payload(payload, where, ("config", "step", "shape", "num_classes", key))
    cfg = TrainConfig.from_dict(payload["config"])
    _check_weights(payload, cfg, weights, key, where)
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


def _check_weights(
    payload: dict[str, Any], cfg: TrainConfig, weights: str, key: str, where: str
) -> None:
    """Refuse non-finite weights; warn about an EMA that is still mostly its initial copy."""
    bad = nonfinite_entries(payload[key])
    if bad:
        raise ValueError(
            f"{where}: the {weights} weights hold NaN/inf ({', '.join(bad[:5])}); load an "
            "earlier checkpoint"
        )
    if weights == "ema":
        _warn_if_fresh_ema(payload, cfg, where)


def _warn_if_fresh_ema(payload: dict[str, Any], cfg: TrainConfig, where: str) -> None:
    """Warn when the EMA's initial copy weighs more than `FRESH_EMA_WEIGHT` ($\\prod_t d_t$,
    recorded by the Trainer; $d^{step}$ for files written before it was)."""
    counters = payload.get("ema_counters")
    step = int(payload["step"])
    weight = (
        float(counters["initial_weight"])
        if isinstance(counters, dict)
        else cfg.train.ema_decay**step
    )
    if weight > FRESH_EMA_WEIGHT:
        warnings.warn(
            f"{where}: the EMA after {step} steps still weighs its initial (random) weights "
            f"{weight:.2f}, so its samples are mostly noise; train longer, use "
            "train.ema_warmup=true, or sample the raw weights (--weights raw)",
            UserWarning,
            stacklevel=4,
        )


def check_trainer_payload(payload: dict[str, Any], where: str, keys: tuple[str, ...]) -> None:
    """`payload` is a `Trainer` checkpoint holding `keys`.

    Raises:
        ValueError: another format, or keys missing (named).
    """
    if payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"{where}: expected an energykit Trainer checkpoint (format "
            f"{CHECKPOINT_FORMAT!r}), got format {payload.get('format')!r}"
        )
    missing = [k for k in keys if k not in payload]
    if missing:
        raise ValueError(
            f"{where}: an energykit Trainer checkpoint missing the keys "
            f"{', '.join(map(repr, missing))} (damaged or written by another program)"
        )


def check_weights_fit(net: nn.Module, state: dict[str, Any], where: str) -> None:
    """The tensors of `state` have `net`'s state-dict names and shapes.

    Raises:
        ValueError: names missing from or unexpected in `state`, or shapes that differ (the
            first few of each are named).
    """
    if not isinstance(state, dict):
        raise ValueError(f"{where}: expected a state dict of weights, got {type(state).__name__}")
    own = net.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in own.items()
        if k in state and isinstance(state[k], Tensor) and state[k].shape != v.shape
    ]
    problems = [
        f"{label}: {name_list(names, 3)}"
        for label, names in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("shape (checkpoint vs net)", shapes),
        )
        if names
    ]
    if problems:
        raise ValueError(
            f"{where}: the weights do not fit {type(net).__name__} ({'; '.join(problems)}); "
            "pass the network the run was trained with"
        )


def intact_checkpoints(directory: str | Path) -> list[tuple[int, Path]]:
    """The `step_*.pt` and `last.pt` files in `directory` that load and verify, as
    `(step, path)`, newest step first."""
    found = []
    for path in sorted(Path(directory).glob("*.pt")):
        if path.name != "last.pt" and not _STEP_FILE.fullmatch(path.name):
            continue
        try:
            payload = load_checkpoint(path)
        except (UnreadableFileError, FileNotFoundError):
            continue
        found.append((int(payload.get("step", -1)), path))
    return sorted(found, key=lambda t: (-t[0], t[1].name != "last.pt"))


_STEP_FILE = re.compile(r"step_\d+\.pt")

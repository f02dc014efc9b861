"""A trained model ready for sampling, `TrainedModel`, and `load_trained`, which rebuilds one
from a `Trainer` checkpoint (weights only are stored; the config names the backbone), an
exported folder (`energykit.train.pretrained`) or a Hugging Face Hub repository."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import torch
from torch import nn

from energykit.objectives import ObjectiveKindSpec, kind_of_field, objective_kind
from energykit.sampling import Landscape, Sampleable, Velocity
from energykit.train.build import net_for
from energykit.train.checkpoint import (
    check_loaded_weights,
    check_trainer_payload,
    check_weights_fit,
    load_checkpoint,
    payload_digest,
)
from energykit.train.config import TrainConfig

if TYPE_CHECKING:
    from energykit.fields import EnergyField
    from energykit.sampling import Solver
    from energykit.train.pretrained import LatentVAE


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
        weights: Which weights `net` holds: `"ema"` (the moving average) or `"raw"` (the
            last step's).
        solver: A calibrated few-evaluation solver fitted for it, carried by an exported
            folder (`energykit export CHECKPOINT DIR --solver S.json`), else `None`.
        vae: The VAE a latent model's samples decode with (exported folders), else `None`.
    """

    net: nn.Module
    kind: str
    shape: tuple[int, ...]
    num_classes: int | None
    config: TrainConfig
    step: int
    weights: str = "ema"
    solver: Solver | None = None
    vae: LatentVAE | None = None
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

    def save_pretrained(
        self, folder: str | Path, *, solver: Solver | None = None, vae: LatentVAE | None = None
    ) -> Path:
        """Write `model.safetensors`, `config.json` and a `README.md` model card to `folder`
        (no optimiser state); `load_trained(folder)` samples exactly as this model does.
        See `energykit.train.pretrained.save_pretrained`."""
        from energykit.train.pretrained import save_pretrained

        return save_pretrained(self, folder, solver=solver, vae=vae)

    def push_to_hub(self, repo_id: str, **options: Any) -> str:
        """Upload `save_pretrained`'s folder to the Hub repository `repo_id` (created if
        needed); returns the commit URL. `options` are those of
        `energykit.train.hub.push_to_hub`: `token`, `private`, `commit_message`, `solver`,
        `vae`."""
        from energykit.train.hub import push_to_hub

        return push_to_hub(self, repo_id, **options)

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
    path: str | Path | None = None,
    *,
    repo_id: str | None = None,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
    net: nn.Module | None = None,
    device: str | torch.device = "cpu",
    weights: Literal["ema", "raw"] = "ema",
) -> TrainedModel:
    """Rebuild a trained model from a `Trainer` checkpoint, an exported folder
    (`energykit export`, `TrainedModel.save_pretrained`) or a Hugging Face Hub repository.

    Loading an EMA whose initial copy still weighs more than 1/2 (a short run without
    `train.ema_warmup`: $d^T > 1/2$, e.g. 400 steps at $d = 0.999$) from a checkpoint warns
    once: its samples come mostly from the random initialisation; use `weights="raw"` or the
    warm-up.

    Args:
        path: The checkpoint (`last.pt`, `step_*.pt`) or an exported folder.
        repo_id: Instead of `path`, a Hub repository (`"org/name"`) holding an exported
            folder, fetched with `huggingface_hub.snapshot_download` (offline with
            `HF_HUB_OFFLINE=1`, from the cache). A keyword, so a relative path is never
            taken for a repository.
        revision: The Hub branch, tag or commit (with `repo_id`; default the main branch).
        cache_dir: The Hub cache folder (with `repo_id`; default huggingface_hub's).
        net: The module to load the weights into, instead of the backbone the config
            names (for runs trained with a network of the user's own; checkpoints and
            folders hold weights only).
        device: Where the stored tensors are read to (the module itself is built on the
            CPU; `energykit sample` moves it to its device).
        weights: `"ema"` (the moving average, used for sampling) or `"raw"` (the trained
            weights of the last step); a folder holds one of them and must be asked for it.

    Raises:
        FileNotFoundError, UnreadableFileError, CorruptCheckpointError: see `load_checkpoint`.
        ValueError: both or neither of `path` and `repo_id`; not a `Trainer` checkpoint
            (or one missing keys) nor a valid exported folder (`energykit.train.pretrained`);
            NaN/inf weights; a network of your own and `net` not given; or weights that do
            not fit `net` (names and shapes).
        TypeError: `net` is not an `nn.Module`.
        ImportError: a folder or `repo_id` without safetensors / huggingface_hub.
    """
    _check_source(path, repo_id, revision, cache_dir, weights)
    if repo_id is not None:
        from energykit.train.hub import download

        path = download(repo_id, revision=revision, cache_dir=cache_dir)
    assert path is not None  # _check_source: exactly one of path and repo_id
    if Path(path).is_dir():
        return _from_folder(path, net, device, weights)
    return _from_checkpoint(path, net, device, weights)


def _check_source(
    path: object, repo_id: object, revision: object, cache_dir: object, weights: object
) -> None:
    """Exactly one of `path` and `repo_id`; `revision`, `cache_dir` only with `repo_id`."""
    if weights not in ("ema", "raw"):
        raise ValueError(f"load_trained weights: expected 'ema' or 'raw', got {weights!r}")
    if (path is None) == (repo_id is None):
        raise ValueError(
            "load_trained: expected a checkpoint or folder path, or repo_id='org/name' for "
            f"the Hub, exactly one; got path={path!r}, repo_id={repo_id!r}"
        )
    if repo_id is None and (revision is not None or cache_dir is not None):
        raise ValueError("load_trained revision, cache_dir: only with repo_id")


def _from_folder(
    folder: str | Path, net: nn.Module | None, device: str | torch.device, weights: str
) -> TrainedModel:
    """`load_trained` of an exported folder (`energykit.train.pretrained`)."""
    from energykit.train.pretrained import load_pretrained
    from energykit.train.pretrained_config import CONFIG_FILE, LatentVAE

    module, config = load_pretrained(folder, net=net, device=device, weights=weights)
    vae = None if config["vae"] is None else LatentVAE(**config["vae"])
    shape, classes, solver = tuple(config["shape"]), config["num_classes"], config["solver"]
    cfg, step = config["recipe"], config["step"]
    model = TrainedModel(module, config["kind"], shape, classes, cfg, step, weights, solver, vae)
    if solver is not None:
        where = f"exported folder {str(folder)!r} ({CONFIG_FILE} solver)"
        solver.check_model(model.binding(solver.model.get("cfg_scale", 1.0)), where=where)
    return model


def _from_checkpoint(
    path: str | Path, net: nn.Module | None, device: str | torch.device, weights: str
) -> TrainedModel:
    """`load_trained` of a `Trainer` checkpoint."""
    key = "ema" if weights == "ema" else "model"
    payload = load_checkpoint(path, device)
    where = f"checkpoint {str(path)!r}"
    keys = ("config", "step", "shape", "num_classes", "ema_counters", key)
    check_trainer_payload(payload, where, keys)
    cfg = TrainConfig.from_dict(payload["config"])
    check_loaded_weights(payload, weights, key, where)
    shape = tuple(payload["shape"])
    classes = payload["num_classes"]
    module = net_for(cfg, shape, classes, net, where)
    check_weights_fit(module, payload[key], where)
    module.load_state_dict(payload[key])
    step = int(payload["step"])
    return TrainedModel(module.eval(), cfg.objective.kind, shape, classes, cfg, step, weights)

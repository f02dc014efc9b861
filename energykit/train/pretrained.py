"""The sharing format: a folder that `load_trained(DIR)` samples exactly as its checkpoint.

```
DIR/model.safetensors   the sampled weights (EMA by default), read by safetensors only
DIR/config.json         what load_trained needs: format, kind, shape, classes, step, which
                        weights, the recipe (schedule, sampler and guidance defaults), the VAE
                        of a latent model, a calibrated solver, the SHA-256 of the weights file
DIR/README.md           a model card (huggingface_hub's ModelCard)
```

No optimiser state, no pickle: loading reads JSON and safetensors and never executes code.
`config.json` is validated key by key, the weights file against its SHA-256, and the tensors
against the network the recipe builds; each failure is one line naming what is wrong.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from energykit._config import ConfigError
from energykit._extras import install_hint
from energykit._io import atomic_write
from energykit.objectives import OBJECTIVE_KINDS
from energykit.sampling import Solver, SolverFileError
from energykit.train.checkpoint import check_weights_fit, nonfinite_entries
from energykit.train.config import TrainConfig

if TYPE_CHECKING:
    from energykit.train.trained import TrainedModel

#: The `format` tag of `config.json`.
PRETRAINED_FORMAT = "energykit.pretrained/1"
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
CARD_FILE = "README.md"
#: The files an exported folder consists of (a folder holding others is not overwritten).
FOLDER_FILES = (WEIGHTS_FILE, CONFIG_FILE, CARD_FILE)


@dataclass(frozen=True)
class LatentVAE:
    """The VAE a latent model's samples are decoded with.

    Attributes:
        name: Where it came from (a Hugging Face id such as `stabilityai/sd-vae-ft-ema`, or
            the folder the latents were encoded with).
        scaling_factor: What the latents were multiplied by (0.18215 for the SD VAE);
            decoding divides by it.
    """

    name: str
    scaling_factor: float

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"vae name: expected a non-empty string, got {self.name!r}")
        s = self.scaling_factor
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not math.isfinite(s) or s <= 0:
            raise ValueError(f"vae scaling_factor: expected a finite number > 0, got {s!r}")


def save_pretrained(
    model: TrainedModel,
    folder: str | Path,
    *,
    solver: Solver | None = None,
    vae: LatentVAE | None = None,
) -> Path:
    """Write `model` as an exported folder (see the module); returns the folder.

    Args:
        model: The trained model; its `net` (EMA or raw weights, `model.weights`) is saved.
        folder: Created if needed; an existing one may hold only the files of an export.
        solver: A calibrated solver fitted for `model` (`energykit calibrate`), embedded in
            `config.json` (default: `model.solver`).
        vae: The VAE of a latent model (default: `model.vae`, else the one recorded in the
            manifest of the latent folder it was trained on, when that folder is here).

    Raises:
        ImportError: safetensors or huggingface_hub is missing (names the extra).
        FileExistsError: `folder` is a file, or holds files other than an export's.
        SolverFileError: `solver` was fitted for another model.
        FloatingPointError: the weights hold NaN/inf (nothing is written).
    """
    safetensors_torch, card = _modules()
    target = _check_target(Path(folder))
    solver = model.solver if solver is None else solver
    if solver is not None:
        scale = solver.model.get("cfg_scale", 1.0)
        solver.check_model(model.binding(scale), where="solver")
    state = {k: v.detach().cpu().contiguous() for k, v in model.net.state_dict().items()}
    bad = nonfinite_entries(state)
    if bad:
        raise FloatingPointError(f"save_pretrained: not written, NaN/inf in {bad[:5]}")
    data = safetensors_torch.save(state, metadata={"format": "pt"})
    config = {
        "format": PRETRAINED_FORMAT,
        "kind": model.kind,
        "shape": list(model.shape),
        "num_classes": model.num_classes,
        "step": model.step,
        "weights": model.weights,
        "recipe": model.config.to_dict(),
        "vae": _vae_record(model, vae),
        "solver": None if solver is None else solver.to_dict(),
        "safetensors_sha256": hashlib.sha256(data).hexdigest(),
    }
    atomic_write(target / WEIGHTS_FILE, lambda f: f.write(data), size=len(data))
    text = json.dumps(config, indent=1, allow_nan=False) + "\n"
    atomic_write(target / CONFIG_FILE, lambda f: f.write(text.encode()))
    card_text = card(model, config, sum(v.numel() for v in state.values()))
    atomic_write(target / CARD_FILE, lambda f: f.write(card_text.encode()))
    return target


def _modules() -> tuple[Any, Callable[..., str]]:
    """`safetensors.torch` and the model-card writer, or one line naming the extra."""
    try:
        import safetensors.torch as safetensors_torch

        from energykit.train.card import model_card
    except ImportError as err:
        raise ImportError(
            f"exported folders need safetensors and huggingface_hub ({err.name} is missing): "
            f"{install_hint('hub')}"
        ) from err
    return safetensors_torch, model_card


def _check_target(folder: Path) -> Path:
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(f"save_pretrained folder {str(folder)!r}: a file, not a folder")
    others = (
        sorted(p.name for p in folder.iterdir() if p.name not in FOLDER_FILES)
        if (folder.is_dir())
        else []
    )
    if others:
        raise FileExistsError(
            f"save_pretrained folder {str(folder)!r}: holds {others[:3]}, not only an export's "
            f"files {list(FOLDER_FILES)}; choose a new or empty folder"
        )
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _vae_record(model: TrainedModel, vae: LatentVAE | None) -> dict[str, Any] | None:
    """The VAE of a latent model: given, recorded on the model, or read from the manifest of
    the latent folder it was trained on (`None` when none is known)."""
    vae = vae or model.vae
    if vae is None and model.dataset == "latents" and model.config.data.path:
        from energykit.data.latents import MANIFEST, LatentManifest

        if (Path(model.config.data.path) / MANIFEST).is_file():
            manifest = LatentManifest.read(model.config.data.path)
            vae = LatentVAE(manifest.vae, manifest.scaling_factor)
    return None if vae is None else {"name": vae.name, "scaling_factor": vae.scaling_factor}


def load_pretrained(
    folder: str | Path, *, net: nn.Module | None, device: str | torch.device, weights: str
) -> TrainedModel:
    """Rebuild the model of an exported folder (`load_trained(DIR)` calls this).

    Raises:
        ImportError: safetensors is missing (names the extra).
        FileNotFoundError: the folder lacks `config.json` or `model.safetensors`.
        ValueError: `config.json` is not valid (names the key), the weights file does not
            match its SHA-256 (names both), the tensors do not fit the network (names
            them), they hold NaN/inf, or `weights` is not the folder's.
    """
    from energykit.train.trained import TrainedModel, net_for

    safetensors_torch, _ = _modules()
    folder = Path(folder)
    config = read_config(folder)
    where = f"exported folder {str(folder)!r}"
    if weights != config["weights"]:
        raise ValueError(
            f"load_trained weights: {where} holds the {config['weights']!r} weights, got "
            f"weights={weights!r}"
        )
    path = folder / WEIGHTS_FILE
    _check_digest(path, config["safetensors_sha256"])
    try:
        state = safetensors_torch.load_file(path, device=str(device))
    except Exception as err:  # safetensors raises its own error types for a damaged header
        raise ValueError(f"{where}: {WEIGHTS_FILE} is not a safetensors file ({err})") from None
    cfg, shape, classes = config["recipe"], tuple(config["shape"]), config["num_classes"]
    module = net_for(cfg, shape, classes, net, where)
    check_weights_fit(module, state, f"{where} ({WEIGHTS_FILE})")
    bad = nonfinite_entries(state)
    if bad:
        raise ValueError(f"{where}: {WEIGHTS_FILE} holds NaN/inf in {bad[:5]}")
    module.load_state_dict(state)
    vae = None if config["vae"] is None else LatentVAE(**config["vae"])
    kind, step, solver = config["kind"], config["step"], config["solver"]
    model = TrainedModel(module.eval(), kind, shape, classes, cfg, step, weights, solver, vae)
    if solver is not None:
        scale = solver.model.get("cfg_scale", 1.0)
        solver.check_model(model.binding(scale), where=f"{where} ({CONFIG_FILE} solver)")
    return model


def _check_digest(path: Path, expected: str) -> None:
    """The SHA-256 of the file at `path` (read in 16 MiB blocks) is `expected`."""
    if not path.is_file():
        raise FileNotFoundError(f"exported folder {str(path.parent)!r}: no {WEIGHTS_FILE}")
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 24):
            h.update(block)
    if h.hexdigest() != expected:
        raise ValueError(
            f"{str(path)!r}: SHA-256 {h.hexdigest()} does not match {expected} recorded in "
            f"{CONFIG_FILE} (the file was damaged or replaced); refusing to load it"
        )


_HEX = re.compile(r"[0-9a-f]{64}")
#: The keys of `config.json`.
CONFIG_KEYS = (
    "format",
    "kind",
    "shape",
    "num_classes",
    "step",
    "weights",
    "recipe",
    "vae",
    "solver",
    "safetensors_sha256",
)


def read_config(folder: str | Path) -> dict[str, Any]:
    """`config.json` of an exported folder, validated: `recipe` as a `TrainConfig`, `solver`
    as a `Solver` (or `None`), every other key checked for its type and range.

    Raises:
        FileNotFoundError: no `config.json` in `folder`.
        ValueError: not JSON, missing or unknown keys, or a value out of range (one line
            naming the key, what was expected and what it holds).
    """
    path = Path(folder) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"load_trained: {str(folder)!r} is not an exported folder (no {CONFIG_FILE}; "
            "`energykit export CHECKPOINT DIR` writes one)"
        )
    where = str(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"), parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError) as err:
        raise ValueError(f"{where!r}: not valid JSON ({err})") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{where!r}: expected a JSON object, got {type(raw).__name__}")
    missing = [k for k in CONFIG_KEYS if k not in raw]
    unknown = sorted(set(raw) - set(CONFIG_KEYS))
    if missing or unknown:
        raise ValueError(f"{where!r}: missing keys {missing}, unknown keys {unknown}")
    for key, ok, expected in _CHECKS:
        if not ok(raw[key]):
            raise ValueError(f"{where!r} {key}: expected {expected}, got {raw[key]!r}"[:300])
    return {**raw, "recipe": _recipe(raw, where), "solver": _solver(raw["solver"], where)}


def _is_int(v: Any, low: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= low


def _is_vae(v: Any) -> bool:
    if not (isinstance(v, dict) and set(v) == {"name", "scaling_factor"}):
        return False
    try:
        LatentVAE(**v)
    except ValueError:
        return False
    return True


_CHECKS: tuple[tuple[str, Callable[[Any], bool], str], ...] = (
    ("format", lambda v: v == PRETRAINED_FORMAT, repr(PRETRAINED_FORMAT)),
    ("kind", lambda v: v in OBJECTIVE_KINDS, f"one of {sorted(OBJECTIVE_KINDS)}"),
    (
        "shape",
        lambda v: isinstance(v, list) and bool(v) and all(_is_int(d, 1) for d in v),
        "a list of positive integers",
    ),
    ("num_classes", lambda v: v is None or _is_int(v, 1), "null or an integer >= 1"),
    ("step", lambda v: _is_int(v, 0), "an integer >= 0"),
    ("weights", lambda v: v in ("ema", "raw"), "'ema' or 'raw'"),
    ("recipe", lambda v: isinstance(v, dict), "a JSON object (the training recipe)"),
    (
        "vae",
        lambda v: v is None or _is_vae(v),
        "null or {'name': a non-empty string, 'scaling_factor': a number > 0}",
    ),
    ("solver", lambda v: v is None or isinstance(v, dict), "null or a solver object"),
    (
        "safetensors_sha256",
        lambda v: isinstance(v, str) and bool(_HEX.fullmatch(v)),
        "a SHA-256 as 64 hex digits",
    ),
)


def _recipe(raw: dict[str, Any], where: str) -> TrainConfig:
    try:
        cfg = TrainConfig.from_dict(raw["recipe"])
    except ConfigError as err:
        raise ValueError(f"{where!r} recipe: {err}") from None
    if cfg.objective.kind != raw["kind"]:
        raise ValueError(
            f"{where!r} kind: {raw['kind']!r}, but the recipe's objective.kind is "
            f"{cfg.objective.kind!r}"
        )
    return cfg


def _solver(raw: Any, where: str) -> Solver | None:
    if raw is None:
        return None
    try:
        return Solver.from_dict(raw, f"{where!r} solver")
    except SolverFileError as err:
        raise ValueError(str(err)) from None


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a finite number")


__all__ = [
    "CONFIG_FILE",
    "PRETRAINED_FORMAT",
    "WEIGHTS_FILE",
    "LatentVAE",
    "load_pretrained",
    "read_config",
    "save_pretrained",
]

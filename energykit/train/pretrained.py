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
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from energykit._extras import install_hint
from energykit._io import atomic_write
from energykit.sampling import Solver
from energykit.train.build import net_for
from energykit.train.checkpoint import check_weights_fit, nonfinite_entries
from energykit.train.config import TrainConfig
from energykit.train.pretrained_config import (
    CARD_FILE,
    CONFIG_FILE,
    FOLDER_FILES,
    PRETRAINED_FORMAT,
    WEIGHTS_FILE,
    LatentVAE,
    read_config,
)


class Exportable(Protocol):
    """What `save_pretrained` reads of a model (`energykit.train.TrainedModel` is one)."""

    net: nn.Module
    kind: str
    shape: tuple[int, ...]
    num_classes: int | None
    config: TrainConfig
    step: int
    weights: str
    solver: Solver | None
    vae: LatentVAE | None

    def binding(self, cfg_scale: float = 1.0) -> dict[str, Any]: ...


def save_pretrained(
    model: Exportable,
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
    card_text = card(config, sum(p.numel() for p in model.net.parameters()))
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
    """`folder`, created, after refusing a file or a folder holding other files."""
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(f"save_pretrained folder {str(folder)!r}: a file, not a folder")
    found = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    others = [name for name in found if name not in FOLDER_FILES]
    if others:
        raise FileExistsError(
            f"save_pretrained folder {str(folder)!r}: holds {others[:3]}, not only an export's "
            f"files {list(FOLDER_FILES)}; choose a new or empty folder"
        )
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _vae_record(model: Exportable, vae: LatentVAE | None) -> dict[str, Any] | None:
    """The VAE of a latent model: given, recorded on the model, or read from the manifest of
    the latent folder it was trained on (`None` when none is known)."""
    vae = vae or model.vae
    if vae is None and model.config.data.name == "latents" and model.config.data.path:
        from energykit.data.latents import MANIFEST, LatentManifest

        if (Path(model.config.data.path) / MANIFEST).is_file():
            manifest = LatentManifest.read(model.config.data.path)
            if manifest.vae:  # folders encoded in code may not name their VAE
                vae = LatentVAE(manifest.vae, manifest.scaling_factor)
    return None if vae is None else {"name": vae.name, "scaling_factor": vae.scaling_factor}


def load_pretrained(
    folder: str | Path, *, net: nn.Module | None, device: str | torch.device, weights: str
) -> tuple[nn.Module, dict[str, Any]]:
    """The network of an exported folder, its weights loaded, in eval mode, and the folder's
    validated `config.json` (`read_config`); `load_trained(DIR)` makes the model of them.

    Raises:
        ImportError: safetensors is missing (names the extra).
        FileNotFoundError: the folder lacks `config.json` or `model.safetensors`.
        ValueError: `config.json` is not valid (names the key), the weights file does not
            match its SHA-256 (names both), the tensors do not fit the network (names
            them), they hold NaN/inf, or `weights` is not the folder's.
    """
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
    module = net_for(config["recipe"], tuple(config["shape"]), config["num_classes"], net, where)
    floats = {t.dtype for t in state.values() if t.is_floating_point()}
    if net is None and len(floats) == 1:
        module.to(floats.pop())  # the stored precision (e.g. a float64 reference export)
    check_weights_fit(module, state, f"{where} ({WEIGHTS_FILE})")
    bad = nonfinite_entries(state)
    if bad:
        raise ValueError(f"{where}: {WEIGHTS_FILE} holds NaN/inf in {bad[:5]}")
    module.load_state_dict(state)
    return module.eval(), config


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


__all__ = ["Exportable", "load_pretrained", "save_pretrained"]

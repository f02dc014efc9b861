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

import contextlib
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
        ValueError: `vae` for a model not trained on latents.
        SolverFileError: `solver` was fitted for another model.
        FloatingPointError: the weights hold NaN/inf (nothing is written).
    """
    safetensors_torch, card = _modules()
    vae_record = _vae_record(model, vae)
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
        "recipe": shareable_recipe(model.config),
        "vae": vae_record,
        "solver": None if solver is None else solver.to_dict(),
        "safetensors_sha256": hashlib.sha256(data).hexdigest(),
    }
    atomic_write(target / WEIGHTS_FILE, lambda f: f.write(data), size=len(data))
    text = json.dumps(config, indent=1, allow_nan=False) + "\n"
    atomic_write(target / CONFIG_FILE, lambda f: f.write(text.encode()))
    card_text = card(config, sum(p.numel() for p in model.net.parameters()))
    atomic_write(target / CARD_FILE, lambda f: f.write(card_text.encode()))
    return target


def shareable_recipe(config: TrainConfig) -> dict[str, Any]:
    """The recipe as `config.json` records it, without machine-local paths: `sample.solver`
    is null (a folder carries its solver embedded, `config.json` `solver`), and so is
    `data.path` where the recipe is valid without it (every dataset but `folder`, `cifar10`
    and `latents`, whose recipes need the path: it is kept there as a record of where the
    data was, and never read when the folder is loaded or sampled)."""
    from energykit.data import DATASETS

    raw = config.to_dict()
    raw["sample"]["solver"] = None
    info = DATASETS.get(config.data.name)
    if info is None or info.family not in ("files", "latents"):
        raw["data"]["path"] = None
    return raw


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
    if vae is not None and model.config.data.name != "latents":
        raise ValueError(
            "save_pretrained vae: only for latent models (data.name='latents'), got "
            f"{model.config.data.name!r}"
        )
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
    data = _read_checked(folder / WEIGHTS_FILE, config["safetensors_sha256"])
    shapes = _header_shapes(data, where)
    recipe, shape, classes = config["recipe"], tuple(config["shape"]), config["num_classes"]
    # The shapes first: the network is built on the meta device (allocating nothing) and
    # compared with the file's header before any tensor is read.
    with torch.device("meta") if net is None else contextlib.nullcontext():
        probe = net_for(recipe, shape, classes, net, where)
    check_weights_fit(probe, shapes, f"{where} ({WEIGHTS_FILE})")
    module = probe if net is not None else net_for(recipe, shape, classes, None, where)
    try:
        state = safetensors_torch.load(data)
    except Exception as err:  # safetensors raises its own error types for damaged data
        raise ValueError(f"{where}: {WEIGHTS_FILE} is not a safetensors file ({err})") from None
    state = {k: v.to(device) for k, v in state.items()}
    floats = {t.dtype for t in state.values() if t.is_floating_point()}
    if net is None and len(floats) == 1:
        module.to(floats.pop())  # the stored precision (e.g. a float64 reference export)
    bad = nonfinite_entries(state)
    if bad:
        raise ValueError(f"{where}: {WEIGHTS_FILE} holds NaN/inf in {bad[:5]}")
    module.load_state_dict(state)
    return module.eval(), config


def _read_checked(path: Path, expected: str) -> bytes:
    """The bytes of the file at `path`, read once, whose SHA-256 is `expected`."""
    if not path.is_file():
        raise FileNotFoundError(f"exported folder {str(path.parent)!r}: no {WEIGHTS_FILE}")
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected:
        raise ValueError(
            f"{str(path)!r}: SHA-256 {digest} does not match {expected} recorded in "
            f"{CONFIG_FILE} (the file was damaged or replaced); refusing to load it"
        )
    return data


def _header_shapes(data: bytes, where: str) -> dict[str, torch.Tensor]:
    """The tensors a safetensors file holds, as shape-only (meta) tensors read from its header
    (an 8-byte little-endian length, then that many bytes of JSON), no tensor data read."""
    bad = f"{where}: {WEIGHTS_FILE} is not a safetensors file"
    size = int.from_bytes(data[:8], "little") if len(data) >= 8 else -1
    if not 0 < size <= len(data) - 8:
        raise ValueError(f"{bad} (header length {size}, file of {len(data)} bytes)")
    try:
        header = json.loads(data[8 : 8 + size])
    except (ValueError, UnicodeDecodeError) as err:
        raise ValueError(f"{bad} (header: {err})") from None
    if not isinstance(header, dict):
        header = {}
    entries = {k: v for k, v in header.items() if k != "__metadata__"}
    if not entries or not all(_is_entry(v) for v in entries.values()):
        raise ValueError(f"{bad} (header entries without a list of sizes 'shape')")
    return {k: torch.empty(v["shape"], device="meta") for k, v in entries.items()}


def _is_entry(v: Any) -> bool:
    shape = v.get("shape") if isinstance(v, dict) else None
    return isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)


__all__ = ["Exportable", "load_pretrained", "save_pretrained", "shareable_recipe"]

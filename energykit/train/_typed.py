"""Plain values (from YAML, JSON or `key=value` strings) to typed, nested dataclasses.

`build(cls, raw)` checks every key against the dataclass fields and every value against its
type hint (`bool`, `int`, `float`, `str`, `Literal`, `X | None`, `tuple[...]`, nested
dataclasses), raising `ConfigError` with the key, the value and what was expected.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any, Literal

from energykit._config import ConfigError


def plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    return v


def build(cls: type[Any], raw: typing.Mapping[str, Any], prefix: str) -> Any:
    where = prefix.rstrip(".") or "config"
    if not isinstance(raw, typing.Mapping):
        raise ConfigError(f"{where}: expected a mapping of keys, got {raw!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise ConfigError(
            f"{prefix}{unknown[0]}: unknown key (known keys of {where}: {sorted(names)})"
        )
    kwargs = {}
    for key, value in raw.items():
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            kwargs[key] = build(typing.cast(type, hint), value, f"{prefix}{key}.")
        else:
            kwargs[key] = _coerce(value, hint, f"{prefix}{key}")
    return cls(**kwargs)


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(hint))
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_describe(args[0])}"
        return f"a list of {len(args)} values"
    if hint is type(None):
        return "null"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(
        hint, str(hint)
    )


def _coerce(value: Any, hint: Any, key: str) -> Any:
    """Check `value` against `hint`; numbers may arrive as strings (`1e-3` in YAML is one)."""
    try:
        return _convert(value, hint)
    except (TypeError, ValueError):
        raise ConfigError(f"{key}: expected {_describe(hint)}, got {value!r}") from None


def _convert(value: Any, hint: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin is Literal:
        if value in typing.get_args(hint) and isinstance(value, str):
            return value
        raise ValueError(value)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            if type(None) in args:
                return None
            raise ValueError(value)
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg)
            except (TypeError, ValueError):
                continue
        raise ValueError(value)
    if origin is tuple:
        if isinstance(value, str):
            value = [v for v in value.strip("()[] ").split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise TypeError(value)
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0]) for v in value)
        if len(value) != len(args):
            raise ValueError(value)
        return tuple(_convert(v, a) for v, a in zip(value, args, strict=True))
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise TypeError(value)  # no bool("false") == True trap: 0, 1, "yes" are refused
    if hint is int:
        if isinstance(value, bool):
            raise TypeError(value)
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            return int(value.strip())
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise TypeError(value)
    if hint is float:
        if isinstance(value, bool):
            raise TypeError(value)
        out = float(value.strip()) if isinstance(value, str) else value
        if not isinstance(out, (int, float)) or not math.isfinite(out):
            raise ValueError(value)
        return float(out)
    if hint is str:
        if not isinstance(value, str):
            raise TypeError(value)
        return value
    raise TypeError(f"unsupported config type {hint}")

"""Shared by the configs, the CLI and the data loaders: `ConfigError` (a setting with a wrong
value), and the devices a run or a command may name (`parse_device`, `available_device`).
Imports no energykit package, so the CLI and `energykit.data` use it without `energykit.train`."""

from __future__ import annotations

from typing import Any

import torch


class ConfigError(ValueError):
    """A configuration key or flag has a wrong value or does not exist; the message names it,
    what was expected and what came."""


#: Device types a run may name; others (`meta`, `xla`, ...) cannot train or sample here.
DEVICE_TYPES = ("cpu", "cuda", "mps", "xpu")

#: The device word that means "CUDA when this machine has it, else the CPU" (the default of
#: `train.device` and of the commands' `--device`).
AUTO_DEVICE = "auto"


def resolve_device_name(text: str) -> str:
    """`text`, with `auto` replaced by `cuda` when `torch.cuda.is_available()`, else `cpu`."""
    if text == AUTO_DEVICE:
        return "cuda" if torch.cuda.is_available() else "cpu"
    return text


def parse_device(text: str, key: str) -> torch.device:
    """`torch.device(text)` for a device a run may name: `auto` (resolved here by
    `resolve_device_name`), `cpu`, `cuda`, `cuda:1`, `mps` or `xpu`. Whether it exists on
    this machine is checked where it is used, not here (a checkpoint trained on `cuda` still
    loads on a CPU machine).

    Raises:
        ConfigError: `text` is not such a device; the message names `key`.
    """
    try:
        device = torch.device(resolve_device_name(text))
    except (RuntimeError, TypeError):
        device = None
    if device is None or device.type not in DEVICE_TYPES:
        raise ConfigError(
            f"{key}: expected 'auto' or a device such as 'cpu', 'cuda', 'cuda:1' or 'mps', "
            f"got {text!r}"
        )
    return device


def available_device(text: str, key: str) -> torch.device:
    """The device `text` names, when this machine has it.

    Raises:
        ConfigError: `text` is not a device a run may name, or this machine lacks it; the
            message names `key`.
    """
    device = parse_device(text, key)
    backend: Any = getattr(torch, device.type, None) if device.type != "mps" else None
    if device.type == "mps":
        available, count = torch.backends.mps.is_available(), 1
    elif device.type == "cpu":
        available, count = True, 1
    else:
        available = backend is not None and bool(backend.is_available())
        count = int(backend.device_count()) if available else 0
    if not available:
        raise ConfigError(
            f"{key}: {text!r} is not available on this machine "
            f"(torch.{device.type}.is_available() is False); use cpu"
        )
    if device.index is not None and device.index >= count:
        raise ConfigError(
            f"{key}: {text!r} does not exist; this machine has {count} {device.type} device(s)"
        )
    return device


__all__ = [
    "AUTO_DEVICE",
    "DEVICE_TYPES",
    "ConfigError",
    "available_device",
    "parse_device",
    "resolve_device_name",
]

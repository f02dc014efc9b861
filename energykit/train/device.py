"""The devices a run may name, and whether this machine has them."""

from __future__ import annotations

from typing import Any

import torch

from energykit._distributed import DistInfo, init_from_env, rank_device
from energykit.train._typed import ConfigError

#: Device types a run may name; others (`meta`, `xla`, ...) cannot train or sample here.
DEVICE_TYPES = ("cpu", "cuda", "mps", "xpu")


def parse_device(text: str, key: str) -> torch.device:
    """`torch.device(text)` for a device a run may name (`cpu`, `cuda`, `cuda:1`, `mps`,
    `xpu`); whether it exists on this machine is checked where it is used, not here (a
    checkpoint trained on `cuda` still loads on a CPU machine).

    Raises:
        ConfigError: `text` is not such a device; the message names `key`.
    """
    try:
        device = torch.device(text)
    except (RuntimeError, TypeError):
        device = None
    if device is None or device.type not in DEVICE_TYPES:
        raise ConfigError(
            f"{key}: expected a device such as 'cpu', 'cuda', 'cuda:1' or 'mps', got {text!r}"
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


def device_and_rank(text: str, key: str) -> tuple[torch.device, DistInfo]:
    """The device `text` names (`available_device`) as this rank uses it (`cuda` is
    `cuda:LOCAL_RANK` under torchrun), and this process's rank, the process group joined."""
    device = available_device(text, key)
    dist = init_from_env(device)
    return rank_device(device, dist), dist


__all__ = ["DEVICE_TYPES", "available_device", "device_and_rank", "parse_device"]

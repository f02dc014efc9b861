"""The device a training run uses under `torchrun`, and its process group."""

from __future__ import annotations

import torch

from energykit._config import available_device
from energykit._distributed import DistInfo, init_from_env, rank_device


def device_and_rank(text: str, key: str) -> tuple[torch.device, DistInfo]:
    """The device `text` names (`available_device`) as this rank uses it (`cuda` is
    `cuda:LOCAL_RANK` under torchrun), and this process's rank, the process group joined."""
    device = available_device(text, key)
    dist = init_from_env(device)
    return rank_device(device, dist), dist


__all__ = ["device_and_rank"]

"""Tiny stand-ins for the large external pieces of the ImageNet pipeline, for tests and the CPU
smoke run: a generated image folder, a miniature CIFAR-10 binary release, a randomly
initialised `AutoencoderKL` and a TorchScript feature network with the Inception call
signature. None of them means anything statistically; they exercise every file format and
code path in seconds.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn


def tiny_image_folder(
    root: str | Path, *, classes: int = 4, per_class: int = 6, size: tuple[int, int] = (24, 20)
) -> Path:
    """Write `classes x per_class` PNGs of `size` (width, height) under `root/class_k/`: each
    class a different colour with a random bright square (seeded)."""
    from PIL import Image

    root = Path(root)
    rng = np.random.default_rng(0)
    w, h = size
    for c in range(classes):
        folder = root / f"class_{c}"
        folder.mkdir(parents=True, exist_ok=True)
        base = np.array([40 + 50 * c, 200 - 40 * c, 90 + 30 * (c % 2)], dtype=np.int32)
        for i in range(per_class):
            img = np.clip(base + rng.integers(-20, 20, (h, w, 3)), 0, 255).astype(np.uint8)
            y, x = rng.integers(0, h - 6), rng.integers(0, w - 6)
            img[y : y + 6, x : x + 6] = 255
            Image.fromarray(img).save(folder / f"img_{i}.png")
    return root


def tiny_cifar10(root: str | Path, *, records: int = 3, seed: int = 0) -> Path:
    """Write a CIFAR-10 binary release in miniature under `root` (created): the five
    `data_batch_k.bin` and `test_batch.bin`, `records` seeded random records each (label
    byte, then 3,072 pixel bytes, R, G, B planes)."""
    from energykit.data.cifar10 import CIFAR10_FILES, RECORD_BYTES

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name in (*CIFAR10_FILES["train"], *CIFAR10_FILES["test"]):
        data = rng.integers(0, 256, (records, RECORD_BYTES), dtype=np.uint8)
        data[:, 0] = rng.integers(0, 10, records)
        (root / name).write_bytes(data.tobytes())
    return root


def tiny_vae(folder: str | Path, *, seed: int = 0) -> Path:
    """Save a random 2-level `AutoencoderKL` (downsampling 2x, 4 latent channels, scaling
    factor 0.18215) with `save_pretrained` into `folder`."""
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    vae: Any = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        block_out_channels=(8, 16),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=4,
        sample_size=16,
    )
    vae.save_pretrained(str(folder))
    return Path(folder)


class StandInFeatures(nn.Module):
    """`(n, 3, H, W)` uint8 -> `(n, 32)` features, called like the Inception TorchScript."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 8, 3, stride=2, padding=1)

    def forward(self, x: Tensor, return_features: bool = True) -> Tensor:
        h = F.interpolate(x.float() / 127.5 - 1.0, size=(16, 16), mode="bilinear")
        h = F.adaptive_avg_pool2d(torch.tanh(self.conv(h)), 2)
        return h.flatten(1)


def standin_feature_network(path: str | Path) -> Path:
    """Script and save `StandInFeatures` to `path` (a `.pt` TorchScript file)."""
    with warnings.catch_warnings():  # the standard Inception file is TorchScript too
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(StandInFeatures()), str(path))
    return Path(path)


__all__ = [
    "StandInFeatures",
    "standin_feature_network",
    "tiny_cifar10",
    "tiny_image_folder",
    "tiny_vae",
]

"""Encode an image folder into cached latents (`energykit latents IMAGE_DIR --out DIR`).

Images are split into shards of `shard_size` in folder order; under `torchrun` rank r encodes
the shards with index = r (mod world size). Each finished shard leaves a done-marker with its
checksums, so an interrupted run skips finished shards when started again; the manifest is
written last, by rank 0, once every shard is done.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Subset

from energykit.data.folder import ImageFolder
from energykit.data.latents import (
    LATENTS_FORMAT,
    MANIFEST,
    LatentManifest,
    read_done_marker,
    write_json_atomic,
    write_shard,
)

#: Settings of a (possibly interrupted) encoding run; a resumed run must match them.
SETTINGS = "encode-settings.json"


def _check_settings(path: Path, settings: dict[str, Any]) -> None:
    if path.is_file():
        old = json.loads(path.read_text())
        changed = {k: (old.get(k), v) for k, v in settings.items() if old.get(k) != v}
        if changed:
            diff = ", ".join(
                f"{k}: {a!r} -> {b!r}" for k, (a, b) in changed.items() if k != "classes"
            )
            raise ValueError(
                f"latents --out {str(path.parent)!r}: holds shards from another run "
                f"({diff or 'classes differ'}); use a new folder or the same settings"
            )
        return
    write_json_atomic(path, settings)


def _no_barrier() -> None:
    return None


def encode_folder(
    images: str | Path,
    out: str | Path,
    encode: Callable[[Tensor], Tensor],
    *,
    scaling_factor: float,
    device: str | torch.device = "cpu",
    image_size: int = 256,
    batch: int = 64,
    shard_size: int = 10_000,
    flip: bool = True,
    workers: int = 0,
    vae_name: str = "",
    rank: int = 0,
    world_size: int = 1,
    barrier: Callable[[], None] = _no_barrier,
    progress: bool = True,
) -> LatentManifest | None:
    """Encode every image under `images/<class>/` and write shards plus a manifest to `out`.

    Args:
        images: Class-per-subfolder image folder (`ImageFolder`).
        out: Latent folder (created).
        encode: Images `(B, 3, H, W)` in $[-1, 1]$ to posterior `[mean, std]`
            `(B, 2, C, h, w)`, e.g. `functools.partial(energykit.interop.vae.encode_moments,
            vae)`.
        scaling_factor: The VAE's latent scaling factor, recorded in the manifest.
        device: Where the images are sent before `encode`.
        image_size: ADM centre-crop side.
        batch: Images per VAE call.
        shard_size: Images per shard file.
        flip: Also encode each mirrored image (view 1), for the random flip in training.
        workers: DataLoader worker processes decoding JPEGs.
        vae_name: Recorded in the manifest.
        rank: This process's rank (it encodes shards `rank, rank + world_size, ...`).
        world_size: Number of processes.
        barrier: Waits for every process (e.g. `torch.distributed.barrier`).
        progress: Print one line per shard to stderr.

    Returns:
        The manifest on rank 0, `None` on other ranks.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dataset = ImageFolder(images, image_size, flip=False)
    n_shards = math.ceil(len(dataset) / shard_size)
    settings = {
        "count": len(dataset),
        "image_size": image_size,
        "shard_size": shard_size,
        "flip": flip,
        "classes": dataset.classes,
    }
    if rank == 0:
        _check_settings(out / SETTINGS, settings)
    barrier()
    for s in range(rank, n_shards, world_size):
        if read_done_marker(out, s) is not None:
            continue
        rows = range(s * shard_size, min((s + 1) * shard_size, len(dataset)))
        loader = DataLoader(Subset(dataset, list(rows)), batch_size=batch, num_workers=workers)
        moments, labels = [], []
        for x, y in loader:
            x = x.to(device)
            views = [encode(x)]
            if flip:
                views.append(encode(x.flip(-1)))
            moments.append(torch.stack(views, dim=1).cpu().numpy())
            labels.append(y.numpy())
        write_shard(out, s, np.concatenate(moments), np.concatenate(labels).astype(np.int64))
        if progress:
            print(f"latents: shard {s + 1}/{n_shards} ({len(rows)} images)", file=sys.stderr)
    barrier()
    if rank != 0:
        return None
    records = [read_done_marker(out, s) for s in range(n_shards)]
    missing = [s for s, r in enumerate(records) if r is None]
    if missing:
        raise RuntimeError(f"latents: shards {missing[:10]} are missing after encoding")
    x0, _ = dataset[0]
    latent_shape = list(encode(x0[None].to(device)).shape[2:])
    write_json_atomic(
        out / MANIFEST,
        {
            "format": LATENTS_FORMAT,
            "count": len(dataset),
            "latent_shape": latent_shape,
            "views": 2 if flip else 1,
            "scaling_factor": float(scaling_factor),
            "classes": dataset.classes,
            "image_size": image_size,
            "vae": vae_name,
            "shard_size": shard_size,
            "shards": records,
        },
    )
    return LatentManifest.read(out)


__all__ = ["encode_folder"]

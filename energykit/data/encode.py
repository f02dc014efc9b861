"""Encode an image folder into cached latents (`energykit latents IMAGE_DIR --out DIR`).

Images are split into shards of `shard_size` in folder order; under `torchrun` rank r encodes
the shards with index = r (mod world size). Each finished shard leaves a done-marker with its
checksums, so an interrupted run skips finished shards when started again (a shard without
a matching marker is redone); `encode-settings.json`, written with the first finished shard,
refuses a resumed run with other settings; the manifest is written last, by rank 0, once every
shard is done (`energykit._shards.ShardPlan` is the protocol, shared with sharded sampling).
"""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Subset

from energykit._distributed import DistInfo, barrier
from energykit._shards import ShardFiles, ShardPlan
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

#: A latent folder's files: shards with their done-markers, the guard file, the manifest.
_LATENT_FILES = ShardFiles(
    settings=SETTINGS,
    targets=r"shard_\d{5}(?:\.labels\.npy|\.npy|\.json)|encode-settings\.json|manifest\.json",
    label="latents --out",
    items="shards",
    remedy="use a new folder or the same settings",
    indent=2,
)


@dataclass(frozen=True)
class _Encoding:
    """How one run encodes its images (`encode_folder`'s keywords, grouped)."""

    image_size: int
    batch: int
    shard_size: int
    flip: bool
    workers: int
    device: str | torch.device


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
    dist: DistInfo | None = None,
    progress: bool = True,
) -> LatentManifest | None:
    """Encode every image under `images/<class>/` and write shards plus a manifest to `out`.

    Args:
        images: Class-per-subfolder image folder (`ImageFolder`).
        out: Latent folder (created).
        encode: Images `(B, 3, H, W)` in $[-1, 1]$ to posterior `[mean, std]` `(B, 2, C, h,
            w)`, e.g. `functools.partial(energykit.interop.vae.encode_moments, vae)`.
        scaling_factor: The VAE's latent scaling factor, recorded in the manifest.
        device: Where the images are sent before `encode`.
        image_size: ADM centre-crop side.
        batch: Images per VAE call.
        shard_size: Images per shard file.
        flip: Also encode each mirrored image (view 1), for the random flip in training.
        workers: DataLoader worker processes decoding JPEGs.
        vae_name: Recorded in the manifest.
        dist: This process's rank under torchrun (it encodes shards `rank, rank +
            world_size, ...`; the ranks wait for each other at the end); `None` for one
            process.
        progress: Print one line per shard to stderr.

    Returns:
        The manifest on rank 0, `None` on other ranks.

    Raises:
        ValueError: `out` holds shards encoded with other settings (rank 0).
    """
    out = Path(out)
    job = _Encoding(image_size, batch, shard_size, flip, workers, device)
    dataset = ImageFolder(images, image_size, flip=False)
    dist = dist or DistInfo()
    plan = _latents_plan(out, dataset, job, dist, functools.partial(barrier, dist))
    plan.guard()
    for s in plan.pending():
        moments, labels = _encode_shard(dataset, _rows(s, job, len(dataset)), encode, job)
        plan.commit(functools.partial(write_shard, out, s, moments, labels))
        if progress:
            print(f"latents: shard {s + 1}/{plan.n_shards} ({len(labels)} images)", file=sys.stderr)
    records = plan.join(lambda s: read_done_marker(out, s))
    if records is None:
        return None
    _write_manifest(out, dataset, encode, job, records, scaling_factor, vae_name)
    return LatentManifest.read(out)


def _latents_plan(
    out: Path, dataset: ImageFolder, job: _Encoding, dist: DistInfo, sync: Callable[[], None]
) -> ShardPlan:
    """The shards of `out`, guarded by the image count and classes, crop, shard size, flip."""
    settings = {
        "count": len(dataset),
        "image_size": job.image_size,
        "shard_size": job.shard_size,
        "flip": job.flip,
        "classes": dataset.classes,
    }
    return ShardPlan(
        out,
        math.ceil(len(dataset) / job.shard_size),
        settings,
        dist,
        files=_LATENT_FILES,
        is_done=lambda s: read_done_marker(out, s) is not None,
        sync=sync,
    )


def _rows(shard: int, job: _Encoding, count: int) -> range:
    """The images of `shard`, in folder order."""
    return range(shard * job.shard_size, min((shard + 1) * job.shard_size, count))


def _encode_shard(
    dataset: ImageFolder, rows: range, encode: Callable[[Tensor], Tensor], job: _Encoding
) -> tuple[np.ndarray, np.ndarray]:
    """Posterior moments `(n, F, 2, C, h, w)` (F = 2 with the mirrored view) and int64
    labels `(n,)` of the images `rows`."""
    loader = DataLoader(Subset(dataset, list(rows)), batch_size=job.batch, num_workers=job.workers)
    moments, labels = [], []
    for x, y in loader:
        x = x.to(job.device)
        views = [encode(x)]
        if job.flip:
            views.append(encode(x.flip(-1)))
        moments.append(torch.stack(views, dim=1).cpu().numpy())
        labels.append(y.numpy())
    return np.concatenate(moments), np.concatenate(labels).astype(np.int64)


def _write_manifest(
    out: Path,
    dataset: ImageFolder,
    encode: Callable[[Tensor], Tensor],
    job: _Encoding,
    records: list[dict[str, Any] | None],
    scaling_factor: float,
    vae_name: str,
) -> None:
    """Write `manifest.json` last, once every shard is done (rank 0)."""
    x0, _ = dataset[0]
    latent_shape = list(encode(x0[None].to(job.device)).shape[2:])
    write_json_atomic(
        out / MANIFEST,
        {
            "format": LATENTS_FORMAT,
            "count": len(dataset),
            "latent_shape": latent_shape,
            "views": 2 if job.flip else 1,
            "scaling_factor": float(scaling_factor),
            "classes": dataset.classes,
            "image_size": job.image_size,
            "vae": vae_name,
            "shard_size": job.shard_size,
            "shards": records,
        },
    )


__all__ = ["encode_folder"]

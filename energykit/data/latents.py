"""Cached VAE latents: sharded posterior mean and std, a manifest with checksums, memory-mapped
reads.

The reference EqM code re-encodes every image with the VAE at every step and trains on one
posterior sample $z = (\\mu + \\sigma \\varepsilon) \\cdot s$ ($s$ = the VAE's scaling factor,
0.18215 for the SD VAE). Storing $\\mu$ and $\\sigma$ once keeps that behaviour (every draw gets
fresh $\\varepsilon$) at a fraction of the cost. A latent folder holds

```
manifest.json                    format, VAE, scaling factor, shapes, classes, shard list
shard_00000.npy                  (n, F, 2, C, h, w) float16: [mean, std] per view
shard_00000.labels.npy           (n,) int64 class labels
shard_00000.json                 done-marker of one shard (count, byte sizes, sha256)
```

with `F = 2` views (the image and its horizontal mirror, for the paper's random flip) or
`F = 1`. `LatentStore` opens the shards with `numpy.load(mmap_mode="r")`, so each training
rank reads only the rows it draws.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from energykit._io import atomic_save_npy, atomic_write

#: Written into every manifest; readers refuse anything else.
LATENTS_FORMAT = "energykit.latents/1"
MANIFEST = "manifest.json"


def shard_name(index: int) -> str:
    """File stem of shard `index`: `shard_00042`."""
    return f"shard_{index:05d}"


def sha256_file(path: str | Path, chunk: int = 1 << 22) -> str:
    """Hex SHA-256 of a file, read in 4 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write `obj` as indented JSON, atomically."""
    atomic_write(path, lambda f: f.write(json.dumps(obj, indent=2).encode()))


def write_shard(folder: Path, index: int, moments: np.ndarray, labels: np.ndarray) -> dict:
    """Write one shard atomically and return its done-marker record.

    Args:
        folder: The latent folder.
        index: Shard number.
        moments: `(n, F, 2, C, h, w)` posterior [mean, std] per view (stored as float16).
        labels: `(n,)` class labels.
    """
    if moments.ndim != 6 or moments.shape[2] != 2:
        raise ValueError(f"write_shard moments: expected (n, F, 2, C, h, w), got {moments.shape}")
    if labels.shape != (moments.shape[0],):
        raise ValueError(
            f"write_shard labels: expected shape ({moments.shape[0]},), got {labels.shape}"
        )
    stem = shard_name(index)
    record: dict[str, Any] = {"index": index, "count": int(moments.shape[0]), "files": {}}
    for suffix, arr in ((".npy", moments.astype(np.float16)), (".labels.npy", labels)):
        path = folder / f"{stem}{suffix}"
        atomic_save_npy(arr, path)
        record["files"][path.name] = {"bytes": path.stat().st_size, "sha256": sha256_file(path)}
    write_json_atomic(folder / f"{stem}.json", record)
    return record


def read_done_marker(folder: Path, index: int) -> dict | None:
    """The record of a finished shard, or `None` if it is missing or its files do not match
    the recorded sizes (an interrupted shard is redone)."""
    marker = folder / f"{shard_name(index)}.json"
    if not marker.is_file():
        return None
    try:
        record = json.loads(marker.read_text())
    except json.JSONDecodeError:
        return None
    for name, info in record.get("files", {}).items():
        f = folder / name
        if not f.is_file() or f.stat().st_size != info["bytes"]:
            return None
    return record


@dataclass(frozen=True)
class LatentManifest:
    """What a latent folder holds (the parsed `manifest.json`).

    Attributes:
        count: Images encoded.
        latent_shape: `(C, h, w)` of one latent.
        views: 2 when mirrored images were encoded too, else 1.
        scaling_factor: Multiplies the posterior sample (the VAE's `scaling_factor`).
        classes: Class names, index = label.
        shards: One record per shard (`index`, `count`, `files` with bytes and sha256).
        image_size: Side of the centre-cropped images that were encoded.
        vae: Where the VAE came from.
    """

    count: int
    latent_shape: tuple[int, int, int]
    views: int
    scaling_factor: float
    classes: tuple[str, ...]
    shards: tuple[dict, ...]
    image_size: int
    vae: str

    @classmethod
    def read(cls, folder: str | Path) -> LatentManifest:
        """Parse `folder/manifest.json`; errors say how to create one."""
        path = Path(folder) / MANIFEST
        if not path.is_file():
            raise FileNotFoundError(
                f"latents: no {MANIFEST} in {str(folder)!r}; create the folder with "
                "`energykit latents IMAGE_DIR --out DIR --vae VAE` (an interrupted run "
                "resumes when started again)"
            )
        raw = json.loads(path.read_text())
        if raw.get("format") != LATENTS_FORMAT:
            raise ValueError(
                f"latents {str(path)!r}: expected format {LATENTS_FORMAT!r}, "
                f"got {raw.get('format')!r}"
            )
        return cls(
            count=int(raw["count"]),
            latent_shape=tuple(raw["latent_shape"]),
            views=int(raw["views"]),
            scaling_factor=float(raw["scaling_factor"]),
            classes=tuple(raw["classes"]),
            shards=tuple(raw["shards"]),
            image_size=int(raw["image_size"]),
            vae=str(raw["vae"]),
        )


def verify_latents(folder: str | Path) -> list[str]:
    """Recompute every shard's SHA-256; returns the names of files that do not match (an
    empty list means the folder is intact)."""
    folder = Path(folder)
    manifest = LatentManifest.read(folder)
    bad = []
    for record in manifest.shards:
        for name, info in record["files"].items():
            f = folder / name
            if not f.is_file() or sha256_file(f) != info["sha256"]:
                bad.append(name)
    return bad


class LatentStore:
    """Memory-mapped latent shards: draws posterior samples for training.

    Args:
        folder: A folder written by `energykit latents` (see the module docstring).
        flip: Use the mirrored view with probability 1/2 when the folder has one (the
            paper's random horizontal flip).

    Raises:
        FileNotFoundError: no manifest (the message says how to make one).
        ValueError: a shard's size differs from the manifest (a truncated copy).
    """

    def __init__(self, folder: str | Path, *, flip: bool = True) -> None:
        self.folder = Path(folder)
        self.manifest = LatentManifest.read(self.folder)
        self.flip = flip and self.manifest.views == 2
        self._moments: list[np.ndarray] = []
        self._labels: list[np.ndarray] = []
        for record in sorted(self.manifest.shards, key=lambda r: r["index"]):
            stem = shard_name(record["index"])
            for name, info in record["files"].items():
                size = (self.folder / name).stat().st_size
                if size != info["bytes"]:
                    raise ValueError(
                        f"latents {str(self.folder / name)!r}: expected {info['bytes']} bytes "
                        f"(manifest), found {size}; re-run `energykit latents` to redo it"
                    )
            self._moments.append(np.load(self.folder / f"{stem}.npy", mmap_mode="r"))
            self._labels.append(np.load(self.folder / f"{stem}.labels.npy"))
        counts = np.array([len(m) for m in self._moments], dtype=np.int64)
        self._starts = np.concatenate([[0], np.cumsum(counts)])
        if int(self._starts[-1]) != self.manifest.count:
            raise ValueError(
                f"latents {str(self.folder)!r}: shards hold {int(self._starts[-1])} images, "
                f"the manifest says {self.manifest.count}"
            )
        self.labels = torch.from_numpy(np.concatenate(self._labels)).long()

    def __len__(self) -> int:
        return self.manifest.count

    @property
    def shape(self) -> tuple[int, int, int]:
        """`(C, h, w)` of one latent."""
        return self.manifest.latent_shape

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.manifest.classes)

    def moments(self, index: Sequence[int] | np.ndarray, view: np.ndarray | None = None) -> Tensor:
        """Posterior `[mean, std]` `(n, 2, C, h, w)` float32 of images `index` (view 0, or
        `view[i]` per row).

        Raises:
            TypeError: `index` holds non-integers (they would be truncated).
            ValueError: an index outside `[0, len(self))` (a negative one would silently
                read another image).
        """
        idx = self._check_index(index)
        views = np.zeros_like(idx) if view is None else np.asarray(view, dtype=np.int64)
        shard = np.searchsorted(self._starts, idx, side="right") - 1
        out = np.empty((len(idx), 2, *self.shape), dtype=np.float32)
        for s in np.unique(shard):
            rows = np.nonzero(shard == s)[0]
            local = idx[rows] - self._starts[s]
            order = np.argsort(local, kind="stable")  # sequential reads from the memmap
            out[rows[order]] = self._moments[s][local[order], views[rows[order]]]
        return torch.from_numpy(out)

    def _check_index(self, index: Sequence[int] | np.ndarray) -> np.ndarray:
        raw = np.asarray(index)
        if raw.size and not np.issubdtype(raw.dtype, np.integer):
            raise TypeError(f"latents index: expected integer indices, got dtype {raw.dtype}")
        idx = raw.astype(np.int64).reshape(-1)
        bad = idx[(idx < 0) | (idx >= len(self))]
        if bad.size:
            raise ValueError(
                f"latents index: expected indices in [0, {len(self) - 1}], got {bad[:5].tolist()}"
            )
        return idx

    def sample(self, index: Tensor, generator: torch.Generator) -> Tensor:
        """Scaled posterior samples $s(\\mu + \\sigma\\varepsilon)$ `(n, C, h, w)` for images
        `index`, with the view (when `flip`) and $\\varepsilon$ drawn from `generator`."""
        view = None
        if self.flip:
            view = torch.randint(2, (len(index),), generator=generator).numpy()
        m = self.moments(index.numpy(), view)
        eps = torch.randn(m[:, 0].shape, generator=generator)
        return (m[:, 0] + m[:, 1] * eps) * self.manifest.scaling_factor

    def mean_latents(self, index: Tensor) -> Tensor:
        """Scaled posterior means $s\\mu$ `(n, C, h, w)` of images `index` (view 0)."""
        return self.moments(index.numpy())[:, 0] * self.manifest.scaling_factor


__all__ = [
    "LATENTS_FORMAT",
    "LatentManifest",
    "LatentStore",
    "read_done_marker",
    "sha256_file",
    "shard_name",
    "verify_latents",
    "write_json_atomic",
    "write_shard",
]

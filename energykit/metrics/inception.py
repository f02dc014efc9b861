"""FID, precision and recall of image samples with a feature network the user supplies.

energykit does not download weights. The standard FID network is the TensorFlow Inception-v3
graph of 2015-12-05 used by the ADM / DiT / SiT / EqM evaluations; NVIDIA publishes a
TorchScript port of it (`inception-2015-12-05.pt`, from the StyleGAN2-ADA metrics, the file
clean-fid also uses):

    https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/inception-2015-12-05.pt

Any TorchScript (or pickled) module with the same call works: `net(images, return_features=True)`
on uint8 images `(n, 3, H, W)` in $[0, 255]$ returning features `(n, d)` (2048 pool features
for Inception; the network resizes internally). Statistics are accumulated in float64.

Precision and recall are the k-nearest-neighbour manifold estimates (Kynkaanniemi et al.,
2019, k = 3, as in the ADM suite): precision is the fraction of generated features inside
some real feature's k-NN ball, recall the fraction of real features inside some generated
one's.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from energykit._checks import check_int
from energykit.metrics.frechet import frechet_from_stats, gaussian_stats

#: Where the standard network comes from (documentation only; never fetched).
INCEPTION_URL = (
    "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/"
    "inception-2015-12-05.pt"
)


class FeatureNetwork:
    """A feature network loaded from a file: uint8 images in, float64 features out.

    Args:
        path: TorchScript file (`torch.jit.save`), e.g. `inception-2015-12-05.pt`.
        device: Where to run it.
        batch: Images per call.

    Raises:
        FileNotFoundError: no file (the message says where the standard one comes from).
        ValueError: the file is not a TorchScript module.
    """

    def __init__(self, path: str | Path, device: str | torch.device = "cpu", batch: int = 200):
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"--inception: no file at {str(path)!r}; energykit does not download it. The "
                f"standard FID network is {INCEPTION_URL} (fetch it on a machine with network "
                "access and pass its path)"
            )
        try:
            with warnings.catch_warnings():  # TorchScript is what the standard file is
                warnings.simplefilter("ignore", DeprecationWarning)
                self.net = torch.jit.load(str(path), map_location=device).eval()
        except RuntimeError as err:
            raise ValueError(
                f"--inception {str(path)!r}: expected a TorchScript module taking uint8 images "
                f"(n, 3, H, W) and return_features=True ({str(err).splitlines()[0][:160]})"
            ) from None
        self.device = torch.device(device)
        self.batch = batch

    @torch.no_grad()
    def __call__(self, images: Tensor | np.ndarray) -> Tensor:
        """Features `(n, d)` float64 of uint8 images `(n, H, W, 3)` (ADM layout) or
        `(n, H, W, 1)` (grey, repeated to RGB)."""
        x = torch.as_tensor(images)
        if x.dtype != torch.uint8 or x.ndim != 4 or x.shape[-1] not in (1, 3):
            raise ValueError(
                f"FeatureNetwork images: expected uint8 (n, H, W, 3), got {x.dtype} "
                f"{tuple(x.shape)}"
            )
        out = []
        for start in range(0, len(x), self.batch):
            chunk = x[start : start + self.batch].to(self.device).permute(0, 3, 1, 2)
            if chunk.shape[1] == 1:
                chunk = chunk.expand(-1, 3, -1, -1)
            out.append(self.net(chunk.contiguous(), return_features=True).double().cpu())
        return torch.cat(out)


def knn_radii(features: Tensor, k: int = 3, block: int = 1024) -> Tensor:
    """Distance from each row of `features` `(n, d)` to its k-th nearest other row `(n,)`."""
    f = features.float()
    radii = []
    for start in range(0, len(f), block):
        d = torch.cdist(f[start : start + block], f)
        radii.append(d.kthvalue(k + 1, dim=1).values)  # k + 1: the row itself is at 0
    return torch.cat(radii)


def coverage_fraction(queries: Tensor, centres: Tensor, radii: Tensor, block: int = 1024) -> float:
    """Fraction of `queries` within `radii[j]` of some `centres[j]`."""
    q, c = queries.float(), centres.float()
    inside = 0
    for start in range(0, len(q), block):
        d = torch.cdist(q[start : start + block], c)
        inside += int((d <= radii[None]).any(dim=1).sum())
    return inside / len(q)


def precision_recall(real: Tensor, fake: Tensor, k: int = 3) -> tuple[float, float]:
    """k-NN manifold precision and recall of `fake` features against `real` features."""
    k = check_int("precision_recall k", k, minimum=1)
    for name, f in (("real", real), ("fake", fake)):
        if not bool(torch.isfinite(f).all()):
            raise ValueError(f"precision_recall {name}: expected finite features, got NaN/inf")
        if f.ndim != 2 or len(f) <= k:
            raise ValueError(
                f"precision_recall {name}: expected (n, d) with n > k={k}, got {tuple(f.shape)}"
            )
    precision = coverage_fraction(fake, real, knn_radii(real, k))
    recall = coverage_fraction(real, fake, knn_radii(fake, k))
    return precision, recall


def _subset(f: Tensor, m: int, seed: int) -> Tensor:
    if len(f) <= m:
        return f
    idx = torch.randperm(len(f), generator=torch.Generator().manual_seed(seed))[:m]
    return f[idx]


def fid_report(
    samples: Tensor | np.ndarray,
    reference: Tensor | np.ndarray,
    network: FeatureNetwork,
    *,
    pr_max: int = 10_000,
    k: int = 3,
    reference_stats: tuple[Tensor, Tensor] | None = None,
) -> dict[str, Any]:
    """FID (float64) and k-NN precision / recall of uint8 `samples` against `reference`
    images (both `(n, H, W, 3)`). Precision and recall use seeded subsets of at most `pr_max`
    images of each side (their cost is quadratic).

    Args:
        reference_stats: Precomputed reference mean and covariance (the `mu` / `sigma` of
            ADM's reference batches, taken over the whole training set); when given, FID uses
            them and the reference images serve only precision and recall.
    """
    fs, fr = network(samples), network(reference)
    mu_s, cov_s = gaussian_stats(fs)
    mu_r, cov_r = gaussian_stats(fr) if reference_stats is None else reference_stats
    if mu_r.shape != mu_s.shape:
        raise ValueError(
            f"fid_report reference_stats: expected {tuple(mu_s.shape)} features (the "
            f"network's), got {tuple(mu_r.shape)}"
        )
    fid = float(frechet_from_stats(mu_s, cov_s, mu_r, cov_r))
    precision, recall = precision_recall(_subset(fr, pr_max, 0), _subset(fs, pr_max, 1), k)
    return {
        "fid": fid,
        "precision": precision,
        "recall": recall,
        "n_samples": len(fs),
        "n_reference": len(fr),
        "feature_dim": int(fs.shape[1]),
        "reference_stats": "precomputed" if reference_stats is not None else "images",
    }


__all__ = [
    "INCEPTION_URL",
    "FeatureNetwork",
    "coverage_fraction",
    "fid_report",
    "knn_radii",
    "precision_recall",
]

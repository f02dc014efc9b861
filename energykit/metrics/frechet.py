"""Frechet distance between Gaussians fitted to features (the formula behind FID), float64."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from energykit.metrics._pairs import check_samples, flat_pair


def _sqrt_psd(m: Tensor) -> Tensor:
    """Symmetric square root of a symmetric PSD matrix (negative round-off clipped)."""
    vals, vecs = torch.linalg.eigh(m)
    return (vecs * vals.clamp(min=0).sqrt()) @ vecs.T


def frechet_from_stats(mu1: Tensor, cov1: Tensor, mu2: Tensor, cov2: Tensor) -> Tensor:
    """$\\lVert\\mu_1-\\mu_2\\rVert^2 + \\mathrm{tr}\\,\\Sigma_1 + \\mathrm{tr}\\,\\Sigma_2 -
    2\\,\\mathrm{tr}\\,(\\Sigma_1^{1/2}\\Sigma_2\\Sigma_1^{1/2})^{1/2}$, in float64.

    The trace term uses the symmetric form, whose eigenvalues are real and non-negative, so
    no complex matrix square root is needed.
    """
    for name, t in [("mu1", mu1), ("mu2", mu2), ("cov1", cov1), ("cov2", cov2)]:
        if not isinstance(t, Tensor):
            raise TypeError(f"frechet_from_stats {name}: expected a tensor, got {type(t).__name__}")
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"frechet_from_stats {name}: expected finite values, got NaN/inf")
    if mu1.ndim != 1:
        raise ValueError(f"frechet_from_stats mu1: expected shape (d,), got {tuple(mu1.shape)}")
    d = mu1.shape[0]
    mu1, mu2, cov1, cov2 = (t.double() for t in (mu1, mu2, cov1, cov2))
    for name, t, shape in [
        ("mu2", mu2, (d,)),
        ("cov1", cov1, (d, d)),
        ("cov2", cov2, (d, d)),
    ]:
        if tuple(t.shape) != shape:
            raise ValueError(
                f"frechet_from_stats {name}: expected shape {shape}, got {tuple(t.shape)}"
            )
    root1 = _sqrt_psd(cov1)
    inner = root1 @ cov2 @ root1
    inner = (inner + inner.T) / 2
    cross = torch.linalg.eigvalsh(inner).clamp(min=0).sqrt().sum()
    return (mu1 - mu2).square().sum() + cov1.trace() + cov2.trace() - 2 * cross


def gaussian_stats(features: Tensor) -> tuple[Tensor, Tensor]:
    """Mean `(d,)` and unbiased covariance `(d, d)` of `features` `(n, d)`, float64.

    Raises:
        ValueError: fewer than 2 rows (the covariance is undefined), or NaN/inf values.
    """
    check_samples("gaussian_stats", "features", features, minimum=2)
    if features.ndim != 2:
        raise ValueError(f"gaussian_stats features: expected (n, d), got {tuple(features.shape)}")
    f = features.double()
    mu = f.mean(dim=0)
    centred = f - mu
    return mu, centred.T @ centred / (f.shape[0] - 1)


def frechet_distance(
    x: Tensor, y: Tensor, features: Callable[[Tensor], Tensor] | None = None
) -> Tensor:
    """Frechet distance between Gaussians fitted to `features(x)` and `features(y)`.

    Args:
        x: Samples `(n, *shape)`, `n >= 2`.
        y: Samples `(m, *shape)`.
        features: Maps a batch to `(batch, d)` features (e.g. a classifier's penultimate
            layer, see `ClassifierFeatures`); `None` uses the flattened samples themselves.

    Returns:
        0-d float64 tensor.
    """
    if features is not None:
        with torch.no_grad():
            x, y = features(x), features(y)
    a, b = flat_pair("frechet_distance", x, y)
    return frechet_from_stats(*gaussian_stats(a), *gaussian_stats(b))

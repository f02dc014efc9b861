"""Maximum mean discrepancy with a sum of RBF kernels (unbiased estimator)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from energykit._checks import check_real
from energykit.metrics._pairs import flat_pair

#: Default RBF bandwidths (kernel $\\exp(-\\lVert a-b \\rVert^2 / (2 h^2))$), multi-scale.
DEFAULT_BANDWIDTHS = (0.1, 0.2, 0.5, 1.0, 2.0)


def _rbf(a: Tensor, b: Tensor, bandwidths: Sequence[float]) -> Tensor:
    sq = torch.cdist(a, b).square()
    return sum((torch.exp(-sq / (2 * h * h)) for h in bandwidths), torch.zeros_like(sq))


def mmd(x: Tensor, y: Tensor, bandwidths: Sequence[float] = DEFAULT_BANDWIDTHS) -> Tensor:
    """Unbiased squared MMD between samples `x` `(n, *shape)` and `y` `(m, *shape)` (flattened
    to `d` features), in float64.

    $\\widehat{\\mathrm{MMD}}^2 = \\frac{1}{n(n-1)}\\sum_{i \\ne j} k(x_i, x_j) +
    \\frac{1}{m(m-1)}\\sum_{i \\ne j} k(y_i, y_j) - \\frac{2}{nm}\\sum_{i,j} k(x_i, y_j)$.
    It can be slightly negative when the distributions match.
    """
    x, y = flat_pair("mmd", x, y)
    bandwidths = _check_bandwidths(bandwidths)
    n, m = x.shape[0], y.shape[0]
    kxx = _rbf(x, x, bandwidths)
    kyy = _rbf(y, y, bandwidths)
    kxy = _rbf(x, y, bandwidths)
    xx = (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
    yy = (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    return xx + yy - 2 * kxy.mean()


def _check_bandwidths(bandwidths: Sequence[float]) -> tuple[float, ...]:
    """At least one bandwidth, each a positive finite number."""
    if isinstance(bandwidths, str) or not isinstance(bandwidths, Sequence):
        raise TypeError(f"mmd bandwidths: expected a sequence of numbers, got {bandwidths!r}")
    if not bandwidths:
        raise ValueError("mmd bandwidths: expected at least one bandwidth, got none")
    return tuple(check_real("mmd bandwidths", h, minimum=0.0, strict=True) for h in bandwidths)

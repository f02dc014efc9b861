"""Two-sample distances: sliced Wasserstein and energy distance (float64)."""

from __future__ import annotations

import torch
from torch import Tensor

from energykit._checks import check_int, check_real
from energykit.metrics._pairs import flat_pair


def _wasserstein_1d_pow(a: Tensor, b: Tensor, p: float) -> Tensor:
    """$W_p^p$ between the empirical measures of the columns of `a` `(n, L)` and `b` `(m, L)`:
    $\\int_0^1 |F_a^{-1}(u) - F_b^{-1}(u)|^p du$, exact for step quantile functions. `(L,)`."""
    n, m = a.shape[0], b.shape[0]
    a, b = a.sort(dim=0).values, b.sort(dim=0).values
    if n == m:
        return (a - b).abs().pow(p).mean(dim=0)
    f64, dev = torch.float64, a.device
    cuts = torch.cat(
        [
            torch.arange(1, n + 1, dtype=f64, device=dev) / n,
            torch.arange(1, m + 1, dtype=f64, device=dev) / m,
        ]
    )
    cuts = torch.unique(cuts)  # sorted breakpoints, the last is 1
    widths = torch.diff(cuts, prepend=cuts.new_zeros(1))
    mid = cuts - widths / 2
    ia = torch.clamp((mid * n).long(), max=n - 1)
    ib = torch.clamp((mid * m).long(), max=m - 1)
    return ((a[ia] - b[ib]).abs().pow(p) * widths[:, None]).sum(dim=0)


def sliced_wasserstein(
    x: Tensor,
    y: Tensor,
    *,
    n_projections: int = 256,
    p: float = 2.0,
    directions: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Sliced Wasserstein distance $SW_p = (\\mathbb E_\\theta W_p^p(\\theta^\\top x,
    \\theta^\\top y))^{1/p}$ over unit directions $\\theta$, exact in each 1-D slice.

    Args:
        x: Samples `(n, *shape)`.
        y: Samples `(m, *shape)`; sizes may differ.
        n_projections: Random directions, uniform on the sphere.
        p: Order, at least 1.
        directions: Explicit directions `(L, d)` (normalised here) instead of random ones.
        generator: Generator for the random directions (seed it for reproducible values).

    Returns:
        0-d float64 tensor. Shifting every sample of `x` by `s` gives, per direction,
        exactly $|\\theta^\\top s|$.
    """
    a, b = flat_pair("sliced_wasserstein", x, y, minimum=1)
    p = check_real("p", p, minimum=1.0)
    d = a.shape[1]
    if directions is None:
        n_projections = check_int("n_projections", n_projections, minimum=1)
        directions = torch.randn(n_projections, d, generator=generator, dtype=torch.float64)
    else:
        directions = _check_directions(directions, d)
    theta = directions.to(device=a.device, dtype=torch.float64)
    theta = theta / theta.norm(dim=1, keepdim=True)
    return _wasserstein_1d_pow(a @ theta.T, b @ theta.T, p).mean().pow(1.0 / p)


def _check_directions(directions: object, d: int) -> Tensor:
    """`(L, d)` finite directions, none of them zero (they are normalised)."""
    if not isinstance(directions, Tensor):
        raise TypeError(f"directions: expected a tensor (L, {d}), got {type(directions).__name__}")
    if directions.ndim != 2 or directions.shape[1] != d or directions.shape[0] == 0:
        raise ValueError(f"directions: expected (L, {d}), L >= 1, got {tuple(directions.shape)}")
    norms = directions.double().norm(dim=1)
    if not bool((torch.isfinite(norms) & (norms > 0)).all()):
        raise ValueError("directions: expected finite, non-zero rows (they are normalised)")
    return directions


def energy_distance(x: Tensor, y: Tensor) -> Tensor:
    """Energy distance $2\\,\\mathbb E\\lVert X - Y\\rVert - \\mathbb E\\lVert X - X'\\rVert -
    \\mathbb E\\lVert Y - Y'\\rVert$ (Szekely), with unbiased within-sample terms (pairs
    $i \\ne j$), so its expectation is 0 when the distributions match (it may dip below).

    Args:
        x: Samples `(n, *shape)`, `n >= 2`.
        y: Samples `(m, *shape)`, `m >= 2`.

    Returns:
        0-d float64 tensor.
    """
    a, b = flat_pair("energy_distance", x, y)
    n, m = a.shape[0], b.shape[0]
    xy = torch.cdist(a, b).mean()
    xx = torch.cdist(a, a).sum() / (n * (n - 1))
    yy = torch.cdist(b, b).sum() / (m * (m - 1))
    return 2 * xy - xx - yy

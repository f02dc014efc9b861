"""Seeded 2-D toy distributions: the standard testbed of generative-modelling papers.

Every sampler returns `(n, 2)` points in roughly $[-2.5, 2.5]^2$, drawn with an optional
`torch.Generator`, so the same seed always gives the same points.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from energykit._checks import check_int

#: Radius of the 8-Gaussians ring and the std of each mode.
RING_RADIUS = 2.0
MODE_STD = 0.1

Sampler = Callable[[int, torch.Generator | None], Tensor]


def eight_gaussians_modes() -> Tensor:
    """The 8 mode centres on a circle of radius `RING_RADIUS`, `(8, 2)` float64."""
    angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
    return RING_RADIUS * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)


def _eight_gaussians(n: int, gen: torch.Generator | None) -> Tensor:
    idx = torch.randint(0, 8, (n,), generator=gen)
    return eight_gaussians_modes()[idx] + MODE_STD * torch.randn(
        n, 2, generator=gen, dtype=torch.float64
    )


def _moons(n: int, gen: torch.Generator | None) -> Tensor:
    upper = torch.rand(n, generator=gen) < 0.5
    theta = math.pi * torch.rand(n, generator=gen, dtype=torch.float64)
    x = torch.where(upper, torch.cos(theta), 1 - torch.cos(theta))
    y = torch.where(upper, torch.sin(theta), 0.5 - torch.sin(theta))
    pts = torch.stack([x - 0.5, y - 0.25], dim=1) * 1.6
    return pts + 0.05 * torch.randn(n, 2, generator=gen, dtype=torch.float64)


def _checkerboard(n: int, gen: torch.Generator | None) -> Tensor:
    # 4x4 board on [-2, 2]^2; the 8 squares where floor(x) + floor(y) is even are filled.
    col = torch.randint(0, 4, (n,), generator=gen)
    row = 2 * torch.randint(0, 2, (n,), generator=gen) + (col % 2)
    u = torch.rand(n, 2, generator=gen, dtype=torch.float64)
    return torch.stack([col - 2 + u[:, 0], row - 2 + u[:, 1]], dim=1)


def _spirals(n: int, gen: torch.Generator | None) -> Tensor:
    s = torch.sqrt(torch.rand(n, generator=gen, dtype=torch.float64)) * 3 * math.pi
    arm = torch.randint(0, 2, (n,), generator=gen).to(torch.float64) * math.pi
    r = s / (3 * math.pi) * 2.2
    pts = torch.stack([r * torch.cos(s + arm), r * torch.sin(s + arm)], dim=1)
    return pts + 0.05 * torch.randn(n, 2, generator=gen, dtype=torch.float64)


def _rings(n: int, gen: torch.Generator | None) -> Tensor:
    radius = (torch.randint(0, 4, (n,), generator=gen).to(torch.float64) + 1) * 0.55
    theta = 2 * math.pi * torch.rand(n, generator=gen, dtype=torch.float64)
    pts = radius[:, None] * torch.stack([torch.cos(theta), torch.sin(theta)], dim=1)
    return pts + 0.04 * torch.randn(n, 2, generator=gen, dtype=torch.float64)


TOY_DISTRIBUTIONS: dict[str, Sampler] = {
    "8gaussians": _eight_gaussians,
    "moons": _moons,
    "checkerboard": _checkerboard,
    "spirals": _spirals,
    "rings": _rings,
}


def sample_toy(
    name: str,
    n: int,
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> Tensor:
    """Draw `n` points from a named 2-D distribution.

    Args:
        name: One of `8gaussians`, `moons`, `checkerboard`, `spirals`, `rings`.
        n: Number of points, at least 1.
        generator: CPU generator for reproducible draws.
        dtype: Output dtype.
        device: Output device.

    Returns:
        Points, `(n, 2)`.

    Raises:
        ValueError: unknown `name`, or `n < 1`.
        TypeError: `dtype` is not a floating-point dtype (points would be truncated).
    """
    if name not in TOY_DISTRIBUTIONS:
        raise ValueError(
            f"toy distribution: expected one of {sorted(TOY_DISTRIBUTIONS)}, got {name!r}"
        )
    n = check_int("n", n, minimum=1)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype: expected a floating-point torch.dtype, got {dtype!r}")
    return TOY_DISTRIBUTIONS[name](n, generator).to(dtype=dtype, device=device)

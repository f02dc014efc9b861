"""Seeded 2-D toy distributions."""

from __future__ import annotations

import pytest
import torch

from energykit.data import TOY_DISTRIBUTIONS, eight_gaussians_modes, sample_toy


@pytest.mark.parametrize("name", sorted(TOY_DISTRIBUTIONS))
def test_seeded_shapes_and_range(name):
    a = sample_toy(name, 500, generator=torch.Generator().manual_seed(0))
    b = sample_toy(name, 500, generator=torch.Generator().manual_seed(0))
    assert a.shape == (500, 2) and a.dtype == torch.float32
    assert torch.equal(a, b)
    assert a.abs().max() < 3.0


def test_eight_gaussians_sit_on_their_modes():
    x = sample_toy(
        "8gaussians", 4000, generator=torch.Generator().manual_seed(1), dtype=torch.float64
    )
    d = torch.cdist(x, eight_gaussians_modes()).min(dim=1).values
    assert float((d < 0.5).double().mean()) > 0.999


def test_checkerboard_fills_alternate_squares():
    x = sample_toy("checkerboard", 2000, generator=torch.Generator().manual_seed(2))
    parity = (torch.floor(x[:, 0]) + torch.floor(x[:, 1])) % 2
    assert (parity == 0).all()


def test_unknown_name():
    with pytest.raises(ValueError, match=r"expected one of .*'moons'"):
        sample_toy("swissroll", 3)

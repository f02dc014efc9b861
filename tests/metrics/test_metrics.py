"""MMD against a hand loop, and mode statistics."""

from __future__ import annotations

import math

import torch

from energykit.metrics import mmd, mode_stats


def test_mmd_matches_a_hand_loop():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(7, 2, generator=g, dtype=torch.float64)
    y = torch.randn(5, 2, generator=g, dtype=torch.float64) + 1

    def k(a, b):
        return sum(math.exp(-float((a - b).square().sum()) / (2 * h * h)) for h in (0.5, 1.0))

    xx = sum(k(x[i], x[j]) for i in range(7) for j in range(7) if i != j) / 42
    yy = sum(k(y[i], y[j]) for i in range(5) for j in range(5) if i != j) / 20
    xy = sum(k(x[i], y[j]) for i in range(7) for j in range(5)) / 35
    assert math.isclose(float(mmd(x, y, (0.5, 1.0))), xx + yy - 2 * xy, rel_tol=1e-12)


def test_mmd_separates_distributions():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(300, 2, generator=g), torch.randn(300, 2, generator=g)
    assert abs(float(mmd(a, b))) < 0.02
    assert float(mmd(a, b + 2)) > 0.5


def test_mode_stats():
    modes = torch.tensor([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]])
    pts = torch.tensor([[0.1, 0.0], [4.9, 0.1], [5.2, 0.0], [2.5, 2.5]])
    s = mode_stats(pts, modes, 0.5)
    assert s.hit_rate == 0.75 and s.modes_covered == 2 and s.counts.tolist() == [1, 2, 0]

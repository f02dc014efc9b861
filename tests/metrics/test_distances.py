"""Sliced Wasserstein, energy distance and Frechet distance against closed forms."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.linalg
import torch
from hypothesis import given
from hypothesis import strategies as st

from energykit.metrics import (
    energy_distance,
    frechet_distance,
    frechet_from_stats,
    mmd,
    sliced_wasserstein,
)


def _sample(n: int, d: int, seed: int) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@given(
    st.lists(st.floats(-3, 3), min_size=3, max_size=3),
    st.integers(0, 1000),
    st.sampled_from([1.0, 2.0, 3.0]),
)
def test_sliced_wasserstein_of_a_shift_is_exact_per_direction(shift, seed, p):
    x = _sample(50, 3, seed)
    s = torch.tensor(shift, dtype=torch.float64)
    dirs = _sample(7, 3, seed + 1)
    unit = dirs / dirs.norm(dim=1, keepdim=True)
    expected = (unit @ s).abs().pow(p).mean().pow(1 / p)
    got = sliced_wasserstein(x, x + s, directions=dirs, p=p)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)


def test_sliced_wasserstein_random_directions_match_sphere_average():
    # E_theta (theta . s)^2 = |s|^2 / d for theta uniform on the sphere.
    x = _sample(200, 4, 0)
    s = torch.tensor([1.0, -2.0, 0.5, 1.0], dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    got = sliced_wasserstein(x, x + s, n_projections=20000, generator=gen)
    assert abs(float(got) - float(s.norm()) / 2.0) < 0.02


def test_sliced_wasserstein_unequal_sizes_matches_quantile_integral():
    a = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    b = torch.tensor([[0.0], [0.0], [3.0]], dtype=torch.float64)
    # Quantiles: a = 0 on (0, 1/2], 1 on (1/2, 1]; b = 0 on (0, 2/3], 3 on (2/3, 1].
    # W1 = 1 * (2/3 - 1/2) + 2 * (1/3) = 1/6 + 2/3.
    got = sliced_wasserstein(a, b, directions=torch.ones(1, 1), p=1.0)
    assert math.isclose(float(got), 1 / 6 + 2 / 3, rel_tol=1e-12)


def test_energy_distance_closed_forms():
    a = torch.zeros(10, 2, dtype=torch.float64)
    b = torch.full((7, 2), 1.0, dtype=torch.float64)
    # Point masses: 2 |a - b| - 0 - 0.
    assert math.isclose(float(energy_distance(a, b)), 2 * math.sqrt(2), rel_tol=1e-12)
    x, y = _sample(400, 3, 1), _sample(400, 3, 2)
    assert abs(float(energy_distance(x, y))) < 0.02
    assert float(energy_distance(x, y + 1.0)) > 0.5


def test_mmd_is_about_zero_for_the_same_distribution_and_grows_with_a_shift():
    x, y = _sample(300, 2, 3), _sample(300, 2, 4)
    values = [float(mmd(x, y + delta)) for delta in (0.0, 0.25, 0.5, 1.0, 2.0)]
    assert abs(values[0]) < 0.01
    assert all(b > a for a, b in itertools.pairwise(values))


def test_frechet_from_stats_matches_scipy_sqrtm():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, 5)), rng.normal(size=(5, 5))
    c1, c2 = a @ a.T + 0.1 * np.eye(5), b @ b.T + 0.1 * np.eye(5)
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    covmean = scipy.linalg.sqrtm(c1 @ c2).real
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(c1 + c2 - 2 * covmean)
    got = frechet_from_stats(*(torch.from_numpy(v) for v in (mu1, c1, mu2, c2)))
    assert math.isclose(float(got), expected, rel_tol=1e-9)


def test_frechet_distance_of_gaussian_samples_approaches_the_closed_form():
    gen = torch.Generator().manual_seed(0)
    n, d = 200_000, 2
    s1, s2 = torch.tensor([1.0, 2.0]), torch.tensor([0.5, 3.0])
    x = torch.randn(n, d, generator=gen, dtype=torch.float64) * s1
    y = torch.randn(n, d, generator=gen, dtype=torch.float64) * s2 + torch.tensor([1.0, -1.0])
    # Diagonal covariances commute: |mu1 - mu2|^2 + sum (s1 - s2)^2.
    expected = 2.0 + float(((s1 - s2) ** 2).sum())
    assert abs(float(frechet_distance(x, y)) - expected) < 0.03
    assert abs(float(frechet_distance(x, x))) < 1e-9


def test_frechet_distance_uses_the_feature_map():
    x, y = _sample(100, 4, 5), _sample(100, 4, 6)
    got = frechet_distance(x, y, features=lambda t: t[:, :2])
    assert math.isclose(float(got), float(frechet_distance(x[:, :2], y[:, :2])), rel_tol=1e-12)


@pytest.mark.parametrize("fn", [mmd, energy_distance, frechet_distance, sliced_wasserstein])
def test_mismatched_shapes_name_the_metric(fn):
    with pytest.raises(ValueError, match=fn.__name__):
        fn(torch.zeros(5, 3), torch.zeros(5, 4))

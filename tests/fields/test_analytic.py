"""Closed-form energies against torch.distributions and hand formulas."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import (
    Categorical,
    Independent,
    MixtureSameFamily,
    MultivariateNormal,
    Normal,
)

from energykit.fields import Gaussian, GaussianMixture, Quadratic
from tests.helpers import random_spd


def _x(b: int = 6, d: int = 3) -> torch.Tensor:
    return torch.randn(b, d, generator=torch.Generator().manual_seed(2), dtype=torch.float64)


def test_gaussian_energy_is_negative_log_density():
    mean = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    cov = random_spd(3, 0)
    x = _x()
    ref = -MultivariateNormal(mean, cov).log_prob(x)
    torch.testing.assert_close(Gaussian(mean, cov).energy(x), ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(
        Gaussian(mean, cov).gradient(x), (x - mean) @ torch.linalg.inv(cov), rtol=1e-10, atol=1e-12
    )


def test_mixture_energy_is_negative_log_density():
    means = torch.randn(4, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    stds = torch.tensor([0.5, 1.0, 1.5, 0.7], dtype=torch.float64)
    w = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64)
    comp = Independent(Normal(means, stds[:, None].expand(4, 3)), 1)
    ref = MixtureSameFamily(Categorical(probs=w / w.sum()), comp)
    x = _x()
    torch.testing.assert_close(
        GaussianMixture(means, stds, w).energy(x), -ref.log_prob(x), rtol=1e-12, atol=1e-12
    )


def test_quadratic_closed_form_and_image_shapes():
    A = random_spd(4, 1)
    b = torch.arange(4, dtype=torch.float64)
    q = Quadratic(A, b, c=2.0)
    x = _x(2, 4).reshape(2, 1, 2, 2)
    z = x.reshape(2, 4)
    torch.testing.assert_close(q.energy(x), 0.5 * ((z @ A) * z).sum(1) - z @ b + 2.0)
    assert q.gradient(x).shape == x.shape
    torch.testing.assert_close(q.gradient(x).reshape(2, 4), z @ A - b)


def test_bad_parameters_are_rejected():
    with pytest.raises(ValueError, match="symmetric"):
        Quadratic(torch.tensor([[1.0, 2.0], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="positive-definite"):
        Gaussian(torch.zeros(2), torch.tensor([[1.0, 0.0], [0.0, -1.0]]))
    with pytest.raises(ValueError, match="positive"):
        GaussianMixture(torch.zeros(2, 2), stds=torch.tensor([1.0, -1.0]))
    with pytest.raises(ValueError, match="expected samples with 2 entries"):
        Gaussian(torch.zeros(2)).energy(torch.zeros(3, 3))

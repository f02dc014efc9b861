"""Closed-form energies with analytic gradients: test oracles and composable priors.

Each acts on the flattened sample, `x.reshape(B, d)`, so it fits any sample shape with
`prod(shape) == d`. Energies are negative log densities (normalised where a density exists).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from energykit._checks import check_batch, check_real
from energykit.fields.base import EnergyField


def _flat(x: Tensor, d: int, owner: str) -> Tensor:
    flat = check_batch("x", x).reshape(x.shape[0], -1)
    if flat.shape[1] != d:
        raise ValueError(
            f"{owner} x: expected samples with {d} entries, got shape {tuple(x.shape[1:])}"
        )
    return flat


def _as_tensor(name: str, value: Any, ndim: int) -> Tensor:
    t = torch.as_tensor(value)
    if not t.is_floating_point():
        t = t.to(torch.get_default_dtype())
    if t.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-d tensor, got shape {tuple(t.shape)}")
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name}: expected finite values, got NaN/inf")
    return t


class Quadratic(EnergyField):
    """$E(x) = \\tfrac12 x^\\top A x - b^\\top x + c$, gradient $A x - b$.

    Args:
        A: Symmetric matrix, shape `(d, d)`.
        b: Linear term, shape `(d,)` (default zero).
        c: Constant.
    """

    A: Tensor
    b: Tensor

    def __init__(self, A: Tensor, b: Tensor | None = None, c: float = 0.0) -> None:
        super().__init__()
        A = _as_tensor("Quadratic A", A, 2)
        if A.shape[0] != A.shape[1] or not torch.allclose(A, A.T):
            raise ValueError(f"Quadratic A: expected a symmetric (d, d) matrix, got {A.shape}")
        b = torch.zeros(A.shape[0], dtype=A.dtype) if b is None else _as_tensor("Quadratic b", b, 1)
        if b.shape != (A.shape[0],):
            raise ValueError(f"Quadratic b: expected shape ({A.shape[0]},), got {tuple(b.shape)}")
        self.register_buffer("A", A)
        self.register_buffer("b", b.to(A.dtype))
        self.c = check_real("Quadratic c", c)

    def energy(self, x: Tensor, **cond: Any) -> Tensor:
        z = _flat(x, self.A.shape[0], "Quadratic")
        A, b = self.A.to(z), self.b.to(z)
        return 0.5 * ((z @ A) * z).sum(dim=1) - z @ b + self.c

    def gradient(self, x: Tensor, **cond: Any) -> Tensor:
        z = _flat(x, self.A.shape[0], "Quadratic")
        return (z @ self.A.to(z) - self.b.to(z)).reshape(x.shape)


class Gaussian(EnergyField):
    """Gaussian negative log density, $E(x) = \\tfrac12 (x-\\mu)^\\top \\Sigma^{-1} (x-\\mu)
    + \\tfrac12 \\log\\det(2\\pi\\Sigma)$, gradient $\\Sigma^{-1}(x - \\mu)$.

    Args:
        mean: $\\mu$, shape `(d,)`.
        cov: $\\Sigma$, symmetric positive definite `(d, d)`; default the identity.
    """

    mean: Tensor
    precision: Tensor
    log_norm: Tensor

    def __init__(self, mean: Tensor, cov: Tensor | None = None) -> None:
        super().__init__()
        mean = _as_tensor("Gaussian mean", mean, 1)
        d = mean.shape[0]
        cov = torch.eye(d, dtype=mean.dtype) if cov is None else _as_tensor("Gaussian cov", cov, 2)
        if cov.shape != (d, d) or not torch.allclose(cov, cov.T):
            raise ValueError(f"Gaussian cov: expected a symmetric ({d}, {d}) matrix")
        chol, info = torch.linalg.cholesky_ex(cov.to(torch.float64))
        if int(info) != 0:
            raise ValueError("Gaussian cov: expected a positive-definite matrix")
        log_det = 2.0 * torch.log(torch.diagonal(chol)).sum()
        self.register_buffer("mean", mean)
        self.register_buffer("precision", torch.cholesky_inverse(chol).to(mean.dtype))
        self.register_buffer("log_norm", (0.5 * (d * math.log(2 * math.pi) + log_det)))

    def energy(self, x: Tensor, **cond: Any) -> Tensor:
        r = _flat(x, self.mean.shape[0], "Gaussian") - self.mean.to(x)
        return 0.5 * ((r @ self.precision.to(x)) * r).sum(dim=1) + self.log_norm.to(x)

    def gradient(self, x: Tensor, **cond: Any) -> Tensor:
        r = _flat(x, self.mean.shape[0], "Gaussian") - self.mean.to(x)
        return (r @ self.precision.to(x)).reshape(x.shape)


class GaussianMixture(EnergyField):
    """Mixture of isotropic Gaussians, $E(x) = -\\log \\sum_k \\pi_k \\mathcal N(x; \\mu_k,
    \\sigma_k^2 I)$, gradient $\\sum_k r_k(x) (x - \\mu_k) / \\sigma_k^2$ with
    responsibilities $r_k = \\operatorname{softmax}_k(\\log \\pi_k + \\log \\mathcal N_k)$.

    Args:
        means: $\\mu_k$, shape `(K, d)`.
        stds: $\\sigma_k$, a positive number or shape `(K,)`.
        weights: $\\pi_k$, positive, shape `(K,)`; normalised here. Default uniform.
    """

    means: Tensor
    stds: Tensor
    log_weights: Tensor

    def __init__(
        self, means: Tensor, stds: Tensor | float = 1.0, weights: Tensor | None = None
    ) -> None:
        super().__init__()
        means = _as_tensor("GaussianMixture means", means, 2)
        k = means.shape[0]
        if k == 0 or means.shape[1] == 0:
            raise ValueError(
                "GaussianMixture means: expected (K, d) with at least one component and one "
                f"dimension, got shape {tuple(means.shape)}"
            )
        stds_t = _as_tensor("GaussianMixture stds", stds, torch.as_tensor(stds).ndim)
        if stds_t.ndim > 1 or stds_t.numel() not in (1, k):
            raise ValueError(
                f"GaussianMixture stds: expected a number or shape ({k},), "
                f"got shape {tuple(stds_t.shape)}"
            )
        stds_t = stds_t.to(means.dtype).expand(k).clone()
        w = (
            torch.ones(k, dtype=means.dtype)
            if weights is None
            else _as_tensor("GaussianMixture weights", weights, 1)
        )
        if stds_t.shape != (k,) or not bool((stds_t > 0).all()):
            raise ValueError(f"GaussianMixture stds: expected {k} positive values")
        if w.shape != (k,) or not bool((w > 0).all()):
            raise ValueError(f"GaussianMixture weights: expected {k} positive values")
        self.register_buffer("means", means)
        self.register_buffer("stds", stds_t)
        self.register_buffer("log_weights", torch.log(w / w.sum()).to(means.dtype))

    def _log_joint(self, z: Tensor) -> Tensor:
        """`log pi_k + log N(z; mu_k, s_k^2 I)`, shape `(B, K)`."""
        d = z.shape[1]
        var = self.stds.to(z).square()
        sq = _sqdist(z, self.means.to(z))
        return self.log_weights.to(z) - 0.5 * sq / var - 0.5 * d * torch.log(2 * math.pi * var)

    def energy(self, x: Tensor, **cond: Any) -> Tensor:
        z = _flat(x, self.means.shape[1], "GaussianMixture")
        return -torch.logsumexp(self._log_joint(z), dim=1)

    def gradient(self, x: Tensor, **cond: Any) -> Tensor:
        z = _flat(x, self.means.shape[1], "GaussianMixture")
        r = torch.softmax(self._log_joint(z), dim=1) / self.stds.to(z).square()  # (B, K)
        return (r.sum(dim=1, keepdim=True) * z - r @ self.means.to(z)).reshape(x.shape)


def _sqdist(z: Tensor, means: Tensor) -> Tensor:
    """Squared distances `(B, K)`, computed as differences for float64-exact oracles."""
    return (z[:, None, :] - means[None, :, :]).square().sum(dim=-1)

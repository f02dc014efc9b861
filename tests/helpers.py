"""Shared fixtures for the tests: a zoo of fields, strategies and tolerances.

Tolerances carry a comment on why they are what they are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from hypothesis import strategies as st
from torch import Tensor

import energykit as ek
from energykit.fields import Gaussian, GaussianMixture, Quadratic

#: float64 central differences with step 1e-6 have truncation error O(h^2) ~ 1e-12 times the
#: third derivative and rounding error ~ eps/h ~ 1e-10; 1e-6 relative leaves ample margin.
FD_STEP = 1e-6
FD_RTOL = 1e-6
FD_ATOL = 1e-7
#: Agreement of two float32 evaluations that differ only in summation order.
F32_RTOL = 1e-5
F32_ATOL = 1e-5

DTYPES = [torch.float32, torch.float64]


def tiny_mlp(dim: int, seed: int, dtype: torch.dtype = torch.float64, **kw: Any) -> ek.nets.MLP:
    """A small random MLP with deterministic weights."""
    torch.manual_seed(seed)
    return ek.nets.MLP(dim, width=16, depth=1, **kw).to(dtype)


def random_spd(d: int, seed: int, dtype: torch.dtype = torch.float64) -> Tensor:
    """A random symmetric positive-definite matrix with eigenvalues in [0.5, 3]."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    eig = 0.5 + 2.5 * torch.rand(d, generator=g, dtype=torch.float64)
    return ((q * eig) @ q.T).to(dtype)


def explicit_zoo(
    d: int, seed: int, dtype: torch.dtype = torch.float64
) -> dict[str, ek.EnergyField]:
    """One explicit field of each kind on R^d."""
    g = torch.Generator().manual_seed(seed)
    return {
        "gaussian": Gaussian(torch.randn(d, generator=g, dtype=dtype), random_spd(d, seed, dtype)),
        "quadratic": Quadratic(
            random_spd(d, seed + 1, dtype), torch.randn(d, generator=g, dtype=dtype)
        ),
        "mixture": GaussianMixture(
            torch.randn(3, d, generator=g, dtype=dtype),
            0.5 + torch.rand(3, generator=g, dtype=dtype),
            0.2 + torch.rand(3, generator=g, dtype=dtype),
        ),
        "dot": ek.DotEnergy(tiny_mlp(d, seed, dtype)),
        "l2": ek.L2Energy(tiny_mlp(d, seed + 7, dtype)),
    }


def implicit(d: int, seed: int, dtype: torch.dtype = torch.float64) -> ek.ImplicitField:
    return ek.ImplicitField(tiny_mlp(d, seed + 13, dtype))


def central_difference(energy: Callable[[Tensor], Tensor], x: Tensor, h: float = FD_STEP) -> Tensor:
    """Gradient of a per-sample energy by central differences, coordinate by coordinate."""
    flat = x.reshape(x.shape[0], -1)
    out = torch.zeros_like(flat)
    for i in range(flat.shape[1]):
        e = torch.zeros_like(flat)
        e[:, i] = h
        up = energy((flat + e).reshape(x.shape))
        down = energy((flat - e).reshape(x.shape))
        out[:, i] = (up - down) / (2 * h)
    return out.reshape(x.shape)


class Fixed(ek.EnergyField):
    """A field that returns a fixed gradient whatever the input (an oracle for losses)."""

    def __init__(self, value: Tensor) -> None:
        super().__init__()
        self.value = value

    def gradient(self, x: Tensor, **cond: Any) -> Tensor:
        return self.value


class Counting(ek.EnergyField):
    """Wraps a field and records the batch size of every call."""

    def __init__(self, inner: ek.EnergyField) -> None:
        super().__init__()
        self.inner = inner
        self.calls: list[int] = []
        self.inputs: list[Tensor] = []

    def gradient(self, x: Tensor, **cond: Any) -> Tensor:
        self.calls.append(x.shape[0])
        self.inputs.append(x.clone())
        return self.inner.gradient(x, **cond)


weights = st.floats(min_value=-3, max_value=3, allow_nan=False).filter(lambda w: abs(w) > 1e-3)
seeds = st.integers(min_value=0, max_value=2**16)
dims = st.integers(min_value=1, max_value=5)
batches = st.integers(min_value=1, max_value=6)
dtypes = st.sampled_from(DTYPES)


#: Constructor arguments of a tiny reference-shaped DiT (the reference release's names): small
#: enough for float64 parity and payload tests to run in milliseconds.
TINY_REFERENCE_KW: dict[str, Any] = {
    "input_size": 4,
    "patch_size": 2,
    "in_channels": 2,
    "hidden_size": 16,
    "depth": 1,
    "num_heads": 2,
    "num_classes": 3,
}

"""Peer comparison with TorchEBM 0.8.9 (`pip install torchebm==0.8.9`, the `bench` extra) on
the same network weights: its gradient-descent sampler against the Descender with SGD.

Only the gradient-descent sampler is compared so far; TorchEBM's Nesterov sampler, its EqM
loss step and explicit-energy DiT training are not (see benchmarks/README.md).
"""

from __future__ import annotations

import importlib.util

import torch
from torch import Tensor, nn

import energykit as ek
from benchmarks.cases_descent import dit_field, mlp_field
from benchmarks.harness import Case

LR = 0.01


def available() -> bool:
    return importlib.util.find_spec("torchebm") is not None


def _wrap(field: ek.ImplicitField) -> nn.Module:
    """A TorchEBM model whose analytic `gradient` is the same net's output (paper sign)."""
    from torchebm.core import BaseModel

    class Implicit(BaseModel):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.net = field.net

        def forward(self, x: Tensor) -> Tensor:  # energy is not needed by the sampler
            raise NotImplementedError

        def gradient(self, x: Tensor, model_kwargs: dict | None = None) -> Tensor:
            return self.net(x)

    return Implicit()


def cases(quick: bool) -> list[Case]:
    if not available():
        print("torchebm is not installed: pip install 'energykit[bench]' for the peer rows")
        return []
    from torchebm.samplers import GradientDescentSampler

    steps = 50 if quick else 250
    out = []
    for label, field, x0 in [
        ("MLP 2-256-256-2, B=4096", mlp_field(), torch.randn(4096, 2)),
        ("MLP 2-256-256-2, B=64", mlp_field(), torch.randn(64, 2)),
        ("tiny DiT, 4x16x16, B=8", dit_field(), torch.randn(8, 4, 16, 16)),
    ]:
        assert isinstance(field, ek.ImplicitField)
        theirs = GradientDescentSampler(_wrap(field), step_size=LR)
        ours = ek.Descender(field, "gd", lr=LR, steps=steps)
        mine = ours.run(x0).x
        ref = theirs.sample(x=x0.clone(), n_steps=steps)
        torch.testing.assert_close(mine, ref, rtol=1e-5, atol=1e-5)  # the same work
        out.append(
            Case(
                f"GD sampler {steps} steps: {label}",
                "TorchEBM 0.8.9",
                "energykit",
                lambda s=theirs, x=x0: s.sample(x=x.clone(), n_steps=steps),
                lambda d=ours, x=x0: d.run(x),
            )
        )
    return out

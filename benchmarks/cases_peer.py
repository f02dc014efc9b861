"""Peer comparison with TorchEBM 0.8.9 (`pip install torchebm==0.8.9`, the `bench` extra) on
the same network weights: its gradient-descent sampler against the Descender with SGD, and its
`EquilibriumMatchingLoss` training step (implicit and dot-product energy) against `EqMLoss`
on the same DiT.

TorchEBM's Nesterov sampler carries momentum in the step
($v \\leftarrow \\mu v - \\eta \nabla E(x + \\mu v)$, $x \\leftarrow x + v$), unlike the paper's
NAG-GD; it is timed against the Descender with `torch.optim.SGD(momentum, nesterov=True)`,
the same method in torch's reformulation (one field evaluation and a few vector operations
per step; the iterates are stored differently, so only the work is compared).
"""

from __future__ import annotations

import importlib.util

import torch
from torch import Tensor, nn

import energykit as ek
from benchmarks.cases_descent import dit_field, mlp_field
from benchmarks.dit_step import perturbed
from benchmarks.harness import Case
from energykit._extras import install_hint

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
        print(f"torchebm is not installed: {install_hint('bench')} for the peer rows")
        return []
    from torchebm.samplers import GradientDescentSampler, NesterovSampler

    steps = 50 if quick else 250
    out = []
    for label, field, x0 in [
        ("MLP 2-256-256-2, B=4096", mlp_field(), torch.randn(4096, 2)),
        ("MLP 2-256-256-2, B=64", mlp_field(), torch.randn(64, 2)),
        ("tiny DiT, 4x16x16, B=8", dit_field(), torch.randn(8, 4, 16, 16)),
    ]:
        assert isinstance(field, ek.ImplicitField)
        gd = ek.Descender(field, "gd", lr=LR, steps=steps)
        theirs_gd = GradientDescentSampler(_wrap(field), step_size=LR)
        ref = theirs_gd.sample(x=x0.clone(), n_steps=steps)
        torch.testing.assert_close(gd.run(x0).x, ref, rtol=1e-5, atol=1e-5)  # the same work
        nesterov = ek.Descender(
            field, torch.optim.SGD, lr=LR, steps=steps, momentum=0.3, nesterov=True
        )
        theirs_nesterov = NesterovSampler(_wrap(field), step_size=LR, momentum=0.3)
        for sampler, theirs, ours, other in (
            ("GD", theirs_gd, gd, "energykit"),
            ("Nesterov", theirs_nesterov, nesterov, "energykit (SGD nesterov)"),
        ):
            out.append(
                Case(
                    f"{sampler} sampler {steps} steps: {label}",
                    "TorchEBM 0.8.9",
                    other,
                    lambda s=theirs, x=x0: s.sample(x=x.clone(), n_steps=steps),
                    lambda d=ours, x=x0: d.run(x),
                )
            )
    out += _training_cases()
    return out


def _training_cases() -> list[Case]:
    """One AdamW training step on copies of the same 2-block DiT (EqM-S width, 4x32x32,
    batch 8): TorchEBM's EqM loss against energykit's, implicit and dot-product heads."""
    import copy

    from torchebm.losses import EquilibriumMatchingLoss

    torch.manual_seed(0)
    base = perturbed(
        ek.nets.DiT(input_size=32, hidden_size=384, depth=2, num_heads=6, num_classes=None)
    )
    x = torch.randn(8, 4, 32, 32, generator=torch.Generator().manual_seed(1))
    out = []
    for head, energy_type in (("implicit", "none"), ("dot", "dot")):
        theirs_net, ours_net = copy.deepcopy(base), copy.deepcopy(base)
        theirs_loss = EquilibriumMatchingLoss(theirs_net, energy_type=energy_type)
        ours_field = ek.ImplicitField(ours_net) if head == "implicit" else ek.DotEnergy(ours_net)
        ours_loss = ek.EqMLoss()
        opt_t = torch.optim.AdamW(theirs_net.parameters(), lr=1e-4)
        opt_o = torch.optim.AdamW(ours_net.parameters(), lr=1e-4)

        def theirs(loss_fn=theirs_loss, opt=opt_t) -> None:  # type: ignore[no-untyped-def]
            loss = loss_fn(x)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        def ours(field=ours_field, loss_fn=ours_loss, opt=opt_o) -> None:  # type: ignore[no-untyped-def]
            loss = loss_fn(field, x).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        out.append(
            Case(
                f"EqM train step ({head} head), DiT 2x384, B=8",
                "TorchEBM 0.8.9",
                "energykit",
                theirs,
                ours,
            )
        )
    return out

"""Composition: k bindings of one network in one batched forward vs k separate calls, and
classifier-free guidance in one doubled pass vs two passes."""

from __future__ import annotations

import torch
from torch import Tensor, nn

import energykit as ek
from benchmarks.harness import Case


class _ClassMLP(nn.Module):
    """A class-conditional MLP on 8x8 images (the digits backbone's size)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = ek.nets.MLP(64, 256, 3, num_classes=10)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return self.net(x.flatten(1), y=y).reshape(x.shape)


def _separate(model: ek.EnergyField, classes: list[int], x: Tensor) -> Tensor:
    """The unbatched way: one call per class."""
    with torch.no_grad():
        return sum(model.gradient(x, y=torch.full((len(x),), c)) for c in classes)


def _two_pass_cfg(model: ek.EnergyField, x: Tensor, y: Tensor, w: float) -> Tensor:
    with torch.no_grad():
        g_c = model.gradient(x, y=y)
        g_u = model.gradient(x, y=torch.full_like(y, 10))
        return g_u + w * (g_c - g_u)


def cases(quick: bool) -> list[Case]:
    reps = 20 if quick else 50
    model = ek.ImplicitField(_ClassMLP()).eval()
    out = []
    for batch in (64, 1024):
        x = torch.randn(batch, 1, 8, 8)
        for k in (2, 4):
            classes = list(range(k))
            composed = sum((model.bind(y=c) for c in classes[1:]), start=model.bind(y=0))

            def batched(f: ek.EnergyField = composed, x: Tensor = x) -> None:
                with torch.no_grad():
                    for _ in range(reps):
                        f.gradient(x)

            def separate(x: Tensor = x, classes: list[int] = classes) -> None:
                for _ in range(reps):
                    _separate(model, classes, x)

            out.append(
                Case(
                    f"{k} bindings, B={batch}, {reps} gradients",
                    "k calls",
                    "one batched call",
                    separate,
                    batched,
                )
            )
        y = torch.arange(batch) % 10
        guided = ek.Guided(model, 1.5, null_label=10)

        def one_pass(g: ek.EnergyField = guided, x: Tensor = x, y: Tensor = y) -> None:
            with torch.no_grad():
                for _ in range(reps):
                    g.gradient(x, y=y)

        def two_pass(x: Tensor = x, y: Tensor = y) -> None:
            for _ in range(reps):
                _two_pass_cfg(model, x, y, 1.5)

        out.append(
            Case(
                f"CFG, B={batch}, {reps} gradients",
                "two passes",
                "Guided (one pass)",
                two_pass,
                one_pass,
            )
        )
    return out

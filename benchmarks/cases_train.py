"""Training steps on a DiT (2 blocks of EqM-S width, 4x32x32 latents, batch 8, fp32, AdamW):
the EqM step against a plain step written from the formulas, EqM-E (dot head) against EqM,
and `torch.compile` on the implicit model."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable

import torch
from torch import nn

import energykit as ek
from benchmarks.harness import Case
from energykit.objectives import TruncatedDecay


def _base() -> nn.Module:
    torch.manual_seed(0)
    net = ek.nets.DiT(input_size=32, hidden_size=384, depth=2, num_heads=6, num_classes=None)
    with torch.no_grad():  # non-zero adaLN so every path does real work
        for p in net.parameters():
            p.add_(0.02 * torch.randn_like(p))
    return net


def steps(batch: int = 8) -> dict[str, Callable[[], None]]:
    """One closure per variant, each owning a copy of the same weights and batch."""
    base = _base()
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(batch, 4, 32, 32, generator=gen)
    gamma = torch.rand(batch, generator=gen)
    noise = torch.randn(batch, 4, 32, 32, generator=gen)
    schedule = TruncatedDecay()
    out: dict[str, Callable[[], None]] = {}

    def plain(net: nn.Module) -> Callable[[], None]:
        opt = torch.optim.AdamW(net.parameters(), lr=1e-4)

        def step() -> None:
            g = gamma.view(-1, 1, 1, 1)
            target = (noise - x) * schedule(gamma).view(-1, 1, 1, 1)
            loss = (net(g * x + (1 - g) * noise) - target).square().mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        return step

    def field(head: ek.EnergyField, net: nn.Module) -> Callable[[], None]:
        opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
        objective = ek.EqMLoss(schedule)

        def step() -> None:
            loss = objective(head, x, gamma=gamma, noise=noise).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        return step

    out["plain"] = plain(copy.deepcopy(base))
    net = copy.deepcopy(base)
    out["energykit"] = field(ek.ImplicitField(net), net)
    net = copy.deepcopy(base)
    out["energykit dot"] = field(ek.DotEnergy(net), net)
    net = copy.deepcopy(base)
    compiled = torch.compile(net)
    out["energykit compiled"] = field(ek.ImplicitField(compiled), net)
    return out


def cases(quick: bool) -> list[Case]:
    s = steps()
    rows = [
        Case(
            "EqM train step, DiT 2x384, B=8",
            "plain step",
            "EqMLoss",
            s["plain"],
            s["energykit"],
            1.0,
        ),
        Case(
            "EqM-E (dot) vs EqM train step, DiT 2x384, B=8",
            "EqM",
            "EqM-E dot",
            s["energykit"],
            s["energykit dot"],
            1.8,
        ),
    ]
    t0 = time.perf_counter()
    try:
        s["energykit compiled"]()  # compiles
    except Exception as err:
        print(f"torch.compile unavailable here: {type(err).__name__}: {str(err)[:200]}")
        return rows
    compile_s = time.perf_counter() - t0
    rows.append(
        Case(
            f"torch.compile on ImplicitField (compile {compile_s:.0f} s, once)",
            "eager",
            "compiled",
            s["energykit"],
            s["energykit compiled"],
        )
    )
    return rows

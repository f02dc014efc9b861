"""Training steps on a DiT (2 blocks of EqM-S width, 4x32x32 latents, batch 8, fp32, AdamW):
the EqM step against a plain step written from the formulas, EqM-E (dot head) against EqM,
and `torch.compile` on the implicit model."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

import energykit as ek
from benchmarks.dit_step import VARIANTS, perturbed, steps_for
from benchmarks.harness import Case


def steps(batch: int = 8) -> dict[str, Callable[[], None]]:
    """One closure per variant on copies of the same 2-block DiT and batch."""
    torch.manual_seed(0)
    base = perturbed(
        ek.nets.DiT(input_size=32, hidden_size=384, depth=2, num_heads=6, num_classes=None)
    )
    return steps_for(base, batch, (*VARIANTS, "energykit compiled"))


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

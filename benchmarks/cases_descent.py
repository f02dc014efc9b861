"""Descender.run against hand-written loops on the same field: SGD and NAG-GD written from the
maths, and hand loops that call the same optimiser (`torch.optim.SGD`, `Multistep`)."""

from __future__ import annotations

import torch
from torch import Tensor

import energykit as ek
from benchmarks.dit_step import perturbed
from benchmarks.harness import Case
from energykit.descent._finite import new_window, record
from energykit.descent._stepping import OptimizerStep

LR, MU = 0.01, 0.3
#: Steps of the rows against hand loops over the same optimiser (issue: 100 steps).
OPTIM_STEPS = 100


@torch.no_grad()
def hand_gd(field: ek.EnergyField, x0: Tensor, steps: int) -> Tensor:
    """`x <- x - lr grad E(x)`."""
    x = x0.clone()
    for _ in range(steps):
        x = x - LR * field.gradient(x)
    return x


@torch.no_grad()
def hand_nag(field: ek.EnergyField, x0: Tensor, steps: int) -> Tensor:
    """The paper's Algorithm 2: gradient at the look-ahead `x + mu (x - x_prev)`."""
    x, prev = x0.clone(), x0.clone()
    for _ in range(steps):
        g = field.gradient(x + MU * (x - prev))
        prev, x = x, x - LR * g
    return x


def hand_sgd(
    field: ek.EnergyField, x0: Tensor, steps: int, lrs: list[float] | None = None
) -> Tensor:
    """`x.grad = grad E(x); opt.step()` over one `torch.optim.SGD` built for the run; with
    `lrs`, step `k`'s size is written into the parameter group first."""
    x = x0.clone()
    opt = torch.optim.SGD([x], lr=LR)
    for k in range(steps):
        if lrs is not None:
            opt.param_groups[0]["lr"] = lrs[k]
        with torch.no_grad():
            x.grad = field.gradient(x)
        opt.step()
    return x


def hand_multistep(field: ek.EnergyField, x0: Tensor, steps: int) -> Tensor:
    """`opt.step(closure)` over one `ek.Multistep` (Adams-Bashforth 2) built for the run; the
    closure writes `grad E(x)` into `x.grad` (`Multistep` requires one)."""
    x = x0.clone()
    opt = ek.Multistep([x], lr=LR, order=2)

    def closure() -> float:
        with torch.no_grad():
            x.grad = field.gradient(x)
        return 0.0

    for _ in range(steps):
        opt.step(closure)
    return x


def optim_floor(field: ek.EnergyField, x0: Tensor, steps: int) -> Tensor:
    """What any sampler built on `torch.optim` with an exact per-step finiteness record
    pays, and nothing else: `SGD.step(closure)` (without the profiler scope, as the Descender
    calls it) plus the two row-extrema kernels of `descent._finite.record`. The Descender's
    own bookkeeping is the difference between this and the Descender."""
    x = x0.clone()
    step = OptimizerStep(torch.optim.SGD([x], lr=LR))
    _, slots = new_window(1, x.shape[0], x.dtype, x.device)

    def closure() -> float:
        torch.set_grad_enabled(False)
        x.grad = field.gradient(x)
        torch.set_grad_enabled(True)
        return 0.0

    for _ in range(steps):
        step(closure)
        record(slots[0], x.view(x.shape[0], -1), x.grad)
    return x


def mlp_field() -> ek.EnergyField:
    """The 2-256-256-2 SiLU MLP field of the issue."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(2, 256),
        torch.nn.SiLU(),
        torch.nn.Linear(256, 256),
        torch.nn.SiLU(),
        torch.nn.Linear(256, 2),
    )
    return ek.ImplicitField(net).eval()


def dit_field() -> ek.EnergyField:
    """A tiny DiT on 4x16x16 latents (2 blocks, width 128)."""
    torch.manual_seed(0)
    net = perturbed(
        ek.nets.DiT(
            input_size=16, patch_size=2, hidden_size=128, depth=2, num_heads=4, num_classes=None
        )
    )
    return ek.ImplicitField(net).eval()


def cases(quick: bool) -> list[Case]:
    steps = 50 if quick else 250
    out = []
    setups = [
        ("MLP 2-256-256-2, B=4096", mlp_field(), torch.randn(4096, 2), 1.05),
        ("MLP 2-256-256-2, B=64", mlp_field(), torch.randn(64, 2), 1.10),
        ("tiny DiT, 4x16x16, B=8", dit_field(), torch.randn(8, 4, 16, 16), 1.03),
    ]
    for label, field, x0, target in setups:
        out.append(
            Case(
                f"descent {steps} steps, SGD: {label}",
                "hand loop",
                "Descender",
                lambda f=field, x=x0: hand_gd(f, x, steps),
                lambda f=field, x=x0: ek.Descender(f, "gd", lr=LR, steps=steps).run(x),
                target,
            )
        )
        out.append(
            Case(
                f"descent {steps} steps, NAG-GD: {label}",
                "hand loop",
                "Descender",
                lambda f=field, x=x0: hand_nag(f, x, steps),
                lambda f=field, x=x0: ek.Descender(f, "nag", lr=LR, steps=steps, momentum=MU).run(
                    x
                ),
                target,
            )
        )
    out.extend(optim_cases(20 if quick else OPTIM_STEPS))
    small = mlp_field(), torch.randn(64, 2)
    out.append(
        Case(
            f"descent {steps} steps, SGD: MLP 2-256-256-2, B=64, floor",
            "hand loop",
            "torch.optim SGD + record",
            lambda f=small[0], x=small[1]: hand_gd(f, x, steps),
            lambda f=small[0], x=small[1]: optim_floor(f, x, steps),
        )
    )
    return out


def optim_cases(steps: int) -> list[Case]:
    """The Descender against hand loops that call the same optimiser: SGD at batch 4096 and
    64, a per-step schedule, and Adams-Bashforth 2 (`Multistep`)."""
    out = []
    big, small = torch.randn(4096, 2), torch.randn(64, 2)
    lrs = [LR] * steps
    for label, x0 in [("B=4096", big), ("B=64", small)]:
        field = mlp_field()
        out.append(
            Case(
                f"descent {steps} steps, torch.optim SGD: MLP 2-256-256-2, {label}",
                "hand loop, same SGD",
                "Descender",
                lambda f=field, x=x0: hand_sgd(f, x, steps),
                lambda f=field, x=x0: ek.Descender(f, "gd", lr=LR, steps=steps).run(x),
                1.05,
            )
        )
    field = mlp_field()
    out.append(
        Case(
            f"descent {steps} steps, SGD, per-step lr: MLP 2-256-256-2, B=64",
            "hand loop, same SGD",
            "Descender",
            lambda f=field, x=small: hand_sgd(f, x, steps, lrs),
            lambda f=field, x=small: ek.Descender(f, "gd", lr=lrs, steps=steps).run(x),
            1.05,
        )
    )
    out.append(
        Case(
            f"descent {steps} steps, ab2 (Multistep): MLP 2-256-256-2, B=64",
            "hand loop, same Multistep",
            "Descender",
            lambda f=field, x=small: hand_multistep(f, x, steps),
            lambda f=field, x=small: ek.Descender(f, "ab2", lr=LR, steps=steps).run(x),
            1.05,
        )
    )
    return out

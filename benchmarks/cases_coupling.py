"""Minibatch OT couplings: the cost they add to a training step, and the two solvers alone.

Steps of the recipes' backbones on real batches of 128: the digits recipe (8x8, MLP
64-256x3, `recipes/digits/eqm.yaml`) and the MNIST recipe (28x28, MLP 784-512x2,
`recipes/mnist/eqm.yaml`), each step `EqMLoss(coupling=...)` on a fresh draw of levels and
noise, backward, AdamW step; `coupling` none against `ot` (exact, SciPy on the host) and
against `sinkhorn` (100 log-domain iterations in torch). Then the two solvers alone on the
same batch (no network).

    python -m benchmarks --only coupling       # the timings, in the benchmark table
    python -m benchmarks.cases_coupling        # how much each coupling shortens the pairs
"""

from __future__ import annotations

import copy
import statistics
from collections.abc import Callable

import torch

import energykit as ek
from benchmarks.harness import Case
from energykit.data.images import load_images
from energykit.objectives import Coupling, ExactOT, Independent, Sinkhorn

BATCH = 128
#: The recipes' backbones (width, depth) per dataset.
NETS = {"digits": (256, 3), "mnist": (512, 2)}


def _batches(name: str, n: int) -> list[torch.Tensor]:
    """`n` batches of real training images, flattened, `(BATCH, D)` each."""
    x = load_images(name).x_train.flatten(1)
    gen = torch.Generator().manual_seed(0)
    return [x[torch.randint(0, len(x), (BATCH,), generator=gen)] for _ in range(n)]


def _steps(
    net: torch.nn.Module, batches: list[torch.Tensor], coupling: Coupling
) -> Callable[[], None]:
    """`len(batches)` training steps of a copy of `net` with `coupling`."""
    net = copy.deepcopy(net)
    field, opt = ek.ImplicitField(net), torch.optim.AdamW(net.parameters(), lr=1e-3)
    loss = ek.EqMLoss(coupling=coupling)
    gen = torch.Generator().manual_seed(1)

    def run() -> None:
        for x in batches:
            out = loss(field, x, generator=gen).loss
            opt.zero_grad(set_to_none=True)
            out.backward()
            opt.step()

    return run


def _alone(batches: list[torch.Tensor], coupling: Coupling) -> Callable[[], None]:
    noise = [torch.randn(x.shape, generator=torch.Generator().manual_seed(2)) for x in batches]
    gen = torch.Generator().manual_seed(3)
    return lambda: [coupling(x, n, gen) for x, n in zip(batches, noise, strict=True)]


def cases(quick: bool) -> list[Case]:
    reps = 4 if quick else 20
    rows = []
    for name, (width, depth) in NETS.items():
        batches = _batches(name, reps)
        dim = batches[0].shape[1]
        torch.manual_seed(0)
        net = ek.nets.MLP(dim, width, depth)
        base = _steps(net, batches, Independent())
        label = f"{reps} EqM steps, {name} MLP {dim}-{width}x{depth}, B={BATCH}"
        for other, coupling in (("ot", ExactOT()), ("sinkhorn", Sinkhorn())):
            run = _steps(net, batches, coupling)
            rows.append(Case(f"{label}, coupling", "none", other, base, run))
        rows.append(
            Case(
                f"{reps} couplings alone, {BATCH} x {dim}",
                "ot (SciPy, host)",
                "sinkhorn (torch, 100 it)",
                _alone(batches, ExactOT()),
                _alone(batches, Sinkhorn()),
            )
        )
    return rows


def paired_cost(batches: list[torch.Tensor], coupling: Coupling) -> float:
    """Mean over `batches` of the coupled pairs' squared distance over the independent
    pairs', $\\sum_i \\lVert x_i - \\epsilon_{\\pi(i)} \\rVert^2 / \\sum_i \\lVert x_i -
    \\epsilon_i \\rVert^2$ (fresh noise per batch)."""
    gen = torch.Generator().manual_seed(4)
    ratios = []
    for x in batches:
        noise = torch.randn(x.shape, generator=gen)
        ratios.append(
            float((x - coupling(x, noise, gen)).square().sum() / (x - noise).square().sum())
        )
    return statistics.mean(ratios)


def main() -> None:
    torch.set_num_threads(1)
    print(f"paired squared distance / independent pairing's, {BATCH} per batch, 20 batches")
    for name in NETS:
        batches = _batches(name, 20)
        exact = paired_cost(batches, ExactOT())
        line = f"{name} ({batches[0].shape[1]}-dim): ot {exact:.3f}"
        for reg in (0.5, 0.2, 0.1):
            entropic = paired_cost(batches, Sinkhorn(reg=reg))
            share = (1 - entropic) / (1 - exact)
            line += f", sinkhorn reg {reg} {entropic:.3f} ({share:.0%} of ot's reduction)"
        print(line)


if __name__ == "__main__":
    main()

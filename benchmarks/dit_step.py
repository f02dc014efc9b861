"""EqM training-step cost on the paper's transformer: energykit against a plain step, and the
explicit-energy (EqM-E, dot head) step against the implicit one.

Run: `python benchmarks/dit_step.py` (`make bench-dit`). One process, one thread, the same
`DiT` weights and batches for every variant, variants interleaved round by round; prints the
median seconds per step, min-max over rounds, and the ratios. Peak resident memory of each
variant is measured in a fresh subprocess (`VmHWM` in `/proc/self/status`, Linux), since
CPU allocations have no per-variant counter.

Variants (EqM-S/2 by default, batch 8, 4x32x32 latents, fp32, AdamW):
- `plain`: the EqM step written out from the formulas: `x_g = g x + (1 - g) e`,
  `target = (e - x) c(g)`, `mean((net(x_g) - target)^2)`, backward, AdamW step.
- `energykit`: `EqMLoss()(ImplicitField(net), x)`, backward, AdamW step.
- `energykit dot`: `EqMLoss()(DotEnergy(net), x)` (double backward), backward, AdamW step.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import torch

import energykit as ek
from energykit.objectives import TruncatedDecay

#: Variants `make_steps` builds by default; `"energykit compiled"` is available on request.
VARIANTS = ("plain", "energykit", "energykit dot")


def perturbed(base: torch.nn.Module) -> torch.nn.Module:
    """`base` with small noise on every weight (non-zero adaLN, so every path does work)."""
    with torch.no_grad():
        for p in base.parameters():
            p.add_(0.02 * torch.randn_like(p))
    return base


def make_steps(model: str, batch: int, only: str | None = None) -> dict[str, Callable[[], None]]:
    """One closure per variant (or just `only`), each owning a copy of the same weights."""
    torch.manual_seed(0)
    base = perturbed(ek.nets.DiT.preset(model, num_classes=None))
    return steps_for(base, batch, VARIANTS if only is None else (only,))


def steps_for(
    base: torch.nn.Module, batch: int, variants: tuple[str, ...] = VARIANTS
) -> dict[str, Callable[[], None]]:
    """Step closures on copies of `base` and one fixed batch of 4x32x32 latents: `plain`
    (the step written from the formulas), `energykit`, `energykit dot` and
    `energykit compiled` (`torch.compile` on the implicit model)."""
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(batch, 4, 32, 32, generator=gen)
    gamma = torch.rand(batch, generator=gen)
    noise = torch.randn(batch, 4, 32, 32, generator=gen)
    schedule = TruncatedDecay()
    steps: dict[str, Callable[[], None]] = {}

    def plain_step(net: torch.nn.Module, opt: torch.optim.Optimizer) -> Callable[[], None]:
        def step() -> None:
            g = gamma.view(-1, 1, 1, 1)
            x_g = g * x + (1 - g) * noise
            target = (noise - x) * schedule(gamma).view(-1, 1, 1, 1)
            loss = (net(x_g) - target).square().mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        return step

    def field_step(field: ek.EnergyField, opt: torch.optim.Optimizer) -> Callable[[], None]:
        objective = ek.EqMLoss(schedule)

        def step() -> None:
            loss = objective(field, x, gamma=gamma, noise=noise).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        return step

    for name in variants:
        net = copy.deepcopy(base)
        opt = torch.optim.AdamW(net.parameters(), lr=1e-4, weight_decay=0.0)
        if name == "plain":
            steps[name] = plain_step(net, opt)
        elif name == "energykit dot":
            steps[name] = field_step(ek.DotEnergy(net), opt)
        elif name == "energykit compiled":
            steps[name] = field_step(ek.ImplicitField(torch.compile(net)), opt)
        else:
            steps[name] = field_step(ek.ImplicitField(net), opt)
    return steps


def peak_memory_mb(model: str, batch: int, variant: str) -> float:
    """Peak resident memory (MB) of a fresh process that builds the variant and runs 2 steps."""
    code = (
        "import sys, torch; sys.path.insert(0, 'benchmarks'); torch.set_num_threads(1)\n"
        "import dit_step as b\n"
        f"s = b.make_steps({model!r}, {batch}, only={variant!r})[{variant!r}]\n"
        "s(); s()\n"
        # VmHWM belongs to this process image; ru_maxrss would carry the parent's peak
        # across fork + exec on Linux.
        "print([int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM')][0])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--model", default="EqM-S/2")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", help="also write the numbers here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    steps = make_steps(args.model, args.batch)
    for step in steps.values():  # warm-up
        step()
    times: dict[str, list[float]] = {k: [] for k in steps}
    for _ in range(args.rounds):
        for name, step in steps.items():
            t0 = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    mem = {k: peak_memory_mb(args.model, args.batch, k) for k in steps}
    print(f"{args.model}, batch {args.batch}, 4x32x32, fp32, 1 thread, {args.rounds} rounds")
    print(f"{'variant':<16}{'s/step':>9}{'min':>9}{'max':>9}{'peak MB':>10}")
    for k, v in times.items():
        print(f"{k:<16}{med[k]:>9.3f}{min(v):>9.3f}{max(v):>9.3f}{mem[k]:>10.0f}")
    ratios = {
        "energykit / plain": med["energykit"] / med["plain"],
        "dot / implicit": med["energykit dot"] / med["energykit"],
        "dot / implicit peak memory": mem["energykit dot"] / mem["energykit"],
    }
    for k, r in ratios.items():
        print(f"{k:<28}{r:.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"seconds": times, "median": med, "peak_mb": mem, "ratios": ratios}, f)


if __name__ == "__main__":
    main()

"""What the Descender's bookkeeping costs against a bare hand-written descent loop.

Run: `make bench` (or `python benchmarks/descent_overhead.py`). All variants run in this one
process on the same field, inputs and thread count; the script prints times and ratios.

Variants, each for `steps` steps on a batch:
- `hand loop`: `x = x - LR * field.gradient(x)` under `no_grad` (the floor).
- `Descender gd`: the same maths through torch.optim.SGD, closures and accounting.
- `Descender gd, g_min=0`: adaptive-compute bookkeeping switched on, no sample ever stops.
- `Descender nag`: NAG-GD (Algorithm 2).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

import energykit as ek

LR = 0.01


def _best_of(fn: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, 1 thread, {args.steps} steps, best of {args.repeats}")
    print(f"{'case':<28}{'variant':<26}{'seconds':>10}{'vs hand':>10}")
    for dim, batch, width in [(2, 2000, 256), (64, 256, 512), (2, 16, 64)]:
        torch.manual_seed(0)
        field = ek.ImplicitField(ek.nets.MLP(dim, width, 3)).eval()
        x0 = torch.randn(batch, dim)

        @torch.no_grad()
        def hand(field: ek.EnergyField = field, x0: torch.Tensor = x0) -> torch.Tensor:
            x = x0.clone()
            for _ in range(args.steps):
                x = x - LR * field.gradient(x)
            return x

        variants = {
            "hand loop": hand,
            "Descender gd": lambda f=field, x=x0: ek.Descender(
                f, "gd", lr=LR, steps=args.steps
            ).run(x),
            "Descender gd, g_min=0": lambda f=field, x=x0: ek.Descender(
                f, "gd", lr=LR, steps=args.steps, g_min=0.0
            ).run(x),
            "Descender nag": lambda f=field, x=x0: ek.Descender(
                f, "nag", lr=LR, steps=args.steps, momentum=0.3
            ).run(x),
        }
        times = {name: _best_of(fn, args.repeats) for name, fn in variants.items()}
        case = f"d={dim} B={batch} width={width}"
        for name, t in times.items():
            print(f"{case:<28}{name:<26}{t:>10.4f}{t / times['hand loop']:>10.2f}")


if __name__ == "__main__":
    main()

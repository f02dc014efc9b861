"""`python -m benchmarks` (`make bench`): every side-by-side comparison, one table.

    python -m benchmarks [--quick] [--only descent compose train coupling peer] [--repeats 5]

One process, one thread; each row times two ways of doing the same work, interleaved (see
`benchmarks/harness.py`). Prints a Markdown table with the machine line on top.
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from benchmarks import cases_compose, cases_coupling, cases_descent, cases_peer, cases_train
from benchmarks.harness import Row, measure, table

GROUPS = {
    "descent": cases_descent.cases,
    "compose": cases_compose.cases,
    "train": cases_train.cases,
    "coupling": cases_coupling.cases,
    "peer": cases_peer.cases,
}


def main(argv: list[str] | None = None) -> list[Row]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--quick", action="store_true", help="short runs (a smoke test)")
    p.add_argument("--only", nargs="+", choices=sorted(GROUPS), help="groups to run")
    p.add_argument("--repeats", type=int, default=5, help="interleaved rounds per row")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    print(
        f"{platform.machine()} {platform.processor() or ''} | torch {torch.__version__} | "
        f"1 thread | {args.repeats} rounds",
        flush=True,
    )
    rows: list[Row] = []
    for name in args.only or list(GROUPS):
        for case in GROUPS[name](args.quick):
            rows.append(measure(case, args.repeats))
            print(f"  measured: {case.name} ({rows[-1].ratio:.3f})", flush=True)
    print(table(rows))
    print(f"\n{time.perf_counter() - t0:.0f} s")
    return rows


if __name__ == "__main__":
    main()

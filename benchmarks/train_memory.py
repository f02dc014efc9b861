"""Peak memory of EqM training (AdamW, EMA, fp32) for the ImageNet presets, measured as peak RSS
of a fresh process on CPU over two steps (so the Adam moments exist during a backward pass)
at two per-process batches (`--batches`, default 1 and 2), extrapolated linearly to others.
A CPU estimate of what one GPU holds (a GPU adds its CUDA context, cuBLAS workspaces and
allocator slack on top).

    python benchmarks/train_memory.py [--presets EqM-B/2 EqM-XL/2] [--batch 32]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys

CHILD = r"""
import json, resource, sys, torch
torch.set_num_threads(1)
preset, batch, kind = sys.argv[1], int(sys.argv[2]), sys.argv[3]
from energykit.nets import DiT
from energykit.objectives import EqMLoss, TruncatedDecay, objective_kind
from energykit.train.ema import EMA
net = DiT.preset(preset, num_classes=1000)
ema = EMA(net, 0.9999)
opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
loss_fn = EqMLoss(TruncatedDecay(a=0.8, scale=4.0))
x = torch.randn(batch, 4, 32, 32)
y = torch.randint(1000, (batch,))
for _ in range(2):  # the second step's backward runs with the Adam moments allocated
    opt.zero_grad(set_to_none=False)
    out = loss_fn(objective_kind(kind).field(net), x, y=y)
    out.loss.backward()
    opt.step()
    ema.update(net)
print(json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def peak(preset: str, batch: int, kind: str) -> float:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, preset, str(batch), kind],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(json.loads(done.stdout.strip().splitlines()[-1])["peak_rss_mb"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--presets", nargs="+", default=["EqM-B/2", "EqM-XL/2"])
    p.add_argument("--kinds", nargs="+", default=["eqm"])
    p.add_argument("--batch", type=int, default=32, help="per-GPU batch to extrapolate to")
    p.add_argument("--batches", type=int, nargs=2, default=[1, 2], help="measured batches")
    args = p.parse_args()
    b1, b2 = args.batches
    head = f"| model | head | RSS @{b1} (MB) | RSS @{b2} (MB) | per sample (MB) |"
    print(f"{head} est. @{args.batch} (GB) |")
    print("|---|---|---|---|---|---|")
    for preset in args.presets:
        for kind in args.kinds:
            m1, m2 = peak(preset, b1, kind), peak(preset, b2, kind)
            per = (m2 - m1) / (b2 - b1)
            est = m1 + per * (args.batch - b1)
            print(
                f"| {preset} | {kind} | {m1:,.0f} | {m2:,.0f} | {per:,.0f} | {est / 1024:.1f} |",
                flush=True,
            )
    _ = resource  # peak RSS is read in the child


if __name__ == "__main__":
    main()

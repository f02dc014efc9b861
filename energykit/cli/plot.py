"""`energykit plot SAMPLES_OR_CHECKPOINT --out FILE.png`."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from energykit._io import load_torch
from energykit.cli._common import check_out_file as _check_out_file
from energykit.cli._common import read_samples as _read_samples
from energykit.train import generate, load_trained
from energykit.train.build import wrap_field


def cmd_plot(args: argparse.Namespace) -> int:
    from energykit.viz import plot_steps_histogram, plot_streamlines, pyplot, save_samples

    _check_out_file(args.out, "--out")
    source = Path(args.source)
    if source.suffix in (".npz",) or (source.suffix == ".pt" and _is_samples(source)):
        x, meta = _read_samples(args.source, "SOURCE")
        if x.dtype == torch.uint8:  # ADM images (n, H, W, 3) -> (n, 3, H, W) in [-1, 1]
            x = x.permute(0, 3, 1, 2).float() / 127.5 - 1.0
        path = save_samples(
            x[: args.max_images] if x.ndim == 4 else x, args.out, title=meta.get("kind")
        )
        print(f"plot: {path}")
        return 0
    model = load_trained(source)
    if model.shape != (2,):
        s = generate(model.net, model.kind, model.shape, model.config.sample, n=args.max_images)
        print(f"plot: {save_samples(s.x, args.out, title=model.kind)}")
        return 0
    plt = pyplot()
    s = generate(model.net, model.kind, model.shape, model.config.sample)
    fig, ax = plt.subplots(1, 3 if s.steps is not None else 2, figsize=(14, 4.6))
    ax[0].scatter(*s.x.T, s=2, c="C3")
    ax[0].set(aspect="equal", title=f"{model.kind} samples")
    if model.kind.startswith("fm"):
        ax[1].set_axis_off()
    else:
        plot_streamlines(ax[1], wrap_field(model.net, model.kind))
    if s.steps is not None:
        plot_steps_histogram(ax[2], s.steps)
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    plt.close(fig)
    print(f"plot: {args.out}")
    return 0


def _is_samples(path: Path) -> bool:
    payload = load_torch(path, what="plot source")
    return isinstance(payload, torch.Tensor) or "format" not in payload

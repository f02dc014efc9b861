"""`energykit plot SAMPLES_OR_CHECKPOINT --out FILE.png`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from energykit._io import load_torch
from energykit.cli._common import check_out_file as _check_out_file
from energykit.cli._common import read_samples as _read_samples
from energykit.cli._reference import load_ours, refuse_reference
from energykit.sampling import generate, solver_for


def cmd_plot(args: argparse.Namespace) -> int:
    from energykit.viz import save_landscape, save_samples

    _check_out_file(args.out, "--out")
    source = Path(args.source)
    try:
        samples = source.suffix == ".npz" or (source.suffix == ".pt" and _is_samples(source))
        read = _read_samples(args.source, "SOURCE") if samples else None
    except ValueError:
        plot = "plot its samples: {sample}, then `energykit plot SAMPLES.pt`"
        refuse_reference(args.source, "SOURCE", plot)
        raise
    if read is not None:
        x, meta = read
        images = x.ndim == 4  # (n, C, H, W), or ADM's uint8 (n, H, W, 3)
        path = save_samples(x[: args.max_images] if images else x, args.out, title=meta.get("kind"))
        print(f"plot: {path}")
        return 0
    model = load_ours(args.source, "cpu", "ema", "plot")
    sample, fm = model.config.sample, model.spec.flow_matching
    target = model.sampleable()  # the field (descent) or the velocity (ODE)
    if model.shape != (2,):
        s = generate(target, model.shape, sample, n=args.max_images, **_descent(model))
        print(f"plot: {save_samples(s.x, args.out, title=model.kind)}")
        return 0
    s = generate(target, model.shape, sample, **_descent(model))
    path = save_landscape(
        args.out,
        s.x,
        field=None if fm else model.field(),
        steps=s.steps if sample.g_min is not None else None,  # adaptive compute only
        title=f"{model.kind} samples",
    )
    print(f"plot: {path}")
    return 0


def _is_samples(path: Path) -> bool:
    payload = load_torch(path, what="plot source")
    return isinstance(payload, torch.Tensor) or "format" not in payload


def _descent(model: Any) -> dict[str, Any]:
    """What `generate` needs of a trained model beyond its field: its landscape and solver."""
    return {"landscape": model.landscape, "solver": solver_for(model, model.config.sample)}

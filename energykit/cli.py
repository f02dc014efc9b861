"""The `energykit` command: `train`, `sample`, `evaluate`, `plot`.

```
energykit train RECIPE.yaml --out DIR [section.key=value ...]
energykit sample CHECKPOINT --out FILE [--sampler nag --lr L --steps K --g-min G --n N]
energykit evaluate SAMPLES [--data NAME | --ref REFERENCE] [--json FILE]
energykit plot SAMPLES_OR_CHECKPOINT --out FILE.png
```

Configuration mistakes (unknown keys, wrong types, bad ranges) exit with status 2 and one line
naming the key, the value and what was expected.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from energykit.train import (
    ConfigError,
    NonFiniteLossError,
    Trainer,
    generate,
    load_config,
    load_trained,
)
from energykit.train.build import build_data, wrap_field
from energykit.train.config import DataConfig
from energykit.train.evaluate import SW_PROJECTIONS, score_samples


def _save_samples(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".npz":
        arrays: dict[str, Any] = {
            k: v.numpy() for k, v in payload.items() if isinstance(v, torch.Tensor)
        }
        meta = json.dumps({k: v for k, v in payload.items() if not isinstance(v, torch.Tensor)})
        np.savez(path, **arrays, meta=np.array(meta))
    elif path.suffix == ".pt":
        torch.save(payload, path)
    else:
        raise ValueError(f"--out: expected a .pt or .npz file, got {str(path)!r}")


def load_samples(path: str | Path) -> tuple[torch.Tensor, dict[str, Any]]:
    """Read a file written by `energykit sample` (`.pt` or `.npz`): samples and metadata."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"samples: no file at {str(path)!r}")
    if path.suffix == ".npz":
        with np.load(path) as f:
            x = torch.from_numpy(f["x"])
            meta = json.loads(str(f["meta"])) if "meta" in f else {}
        return x, meta
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(payload, torch.Tensor):
        return payload, {}
    return payload["x"], {k: v for k, v in payload.items() if not isinstance(v, torch.Tensor)}


def cmd_train(args: argparse.Namespace) -> int:
    cfg = load_config(args.recipe, args.overrides)
    trainer = Trainer(cfg, args.out, progress=not args.no_progress, resume=not args.fresh)
    print(
        f"training {cfg.objective.kind} on {cfg.data.name}: {trainer.n_parameters:,} parameters, "
        f"steps {trainer.step} -> {cfg.train.steps}, out {args.out}",
        file=sys.stderr,
    )
    history = trainer.fit()
    last = next((r for r in reversed(history) if "loss" in r), None)
    print(
        f"checkpoint: {Path(args.out) / 'last.pt'}"
        + (f" (loss {last['loss']:.4f})" if last else "")
    )
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    model = load_trained(args.checkpoint, args.device)
    overrides = {
        k: v
        for k, v in {
            "sampler": args.sampler,
            "lr": args.lr,
            "lr_scale": args.lr_scale,
            "momentum": args.momentum,
            "steps": args.steps,
            "g_min": args.g_min,
            "n": args.n,
            "seed": args.seed,
            "batch": args.batch,
        }.items()
        if v is not None
    }
    s = generate(
        model.net.to(args.device),
        model.kind,
        model.shape,
        model.config.sample,
        num_classes=model.num_classes,
        device=args.device,
        **overrides,
    )
    payload: dict[str, Any] = {
        "x": s.x.cpu(),
        "nfe_total": s.nfe_total,
        "seconds": s.seconds,
        "dataset": model.config.data.name,
        "kind": model.kind,
        "checkpoint": str(args.checkpoint),
        "sampler": {**model.config.sample.__dict__, **overrides},
    }
    if s.steps is not None:
        payload["steps"] = s.steps.cpu()
    if s.y is not None:
        payload["y"] = s.y.cpu()
    _save_samples(Path(args.out), payload)
    extra = "" if s.steps is None else f", steps mean {float(s.steps.double().mean()):.1f}"
    print(
        f"{len(s.x)} samples -> {args.out} (NFE/sample {s.nfe_mean:.1f}{extra}, {s.seconds:.1f}s)"
    )
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from energykit.metrics import energy_distance, frechet_distance, mmd, sliced_wasserstein

    x, meta = load_samples(args.samples)
    if args.ref is not None:
        ref, _ = load_samples(args.ref)
        gen = torch.Generator().manual_seed(0)
        metrics = {
            "mmd": float(mmd(x, ref)),
            "sw": float(sliced_wasserstein(x, ref, n_projections=SW_PROJECTIONS, generator=gen)),
            "energy": float(energy_distance(x, ref)),
            "frechet_pixels": float(frechet_distance(x, ref)),
        }
    else:
        name = args.data or meta.get("dataset")
        if name is None:
            raise ConfigError(
                "evaluate: give --data NAME or --ref FILE (the samples carry neither)"
            )
        data = build_data(DataConfig(name=name))
        metrics = score_samples(x, data)
    text = json.dumps(metrics, indent=2)
    print(text)
    if args.json is not None:
        Path(args.json).write_text(text)
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from energykit.viz import plot_steps_histogram, plot_streamlines, pyplot, save_samples

    source = Path(args.source)
    if source.suffix in (".npz",) or (source.suffix == ".pt" and _is_samples(source)):
        x, meta = load_samples(source)
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
    payload = torch.load(path, map_location="cpu", weights_only=True)
    return isinstance(payload, torch.Tensor) or "format" not in payload


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `energykit` command."""
    p = argparse.ArgumentParser(prog="energykit", description="Equilibrium Matching toolkit")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a recipe (resumes from OUT/last.pt)")
    t.add_argument("recipe", help="recipe file (.yaml or .json)")
    t.add_argument("--out", required=True, help="run directory")
    t.add_argument("overrides", nargs="*", help="section.key=value, e.g. train.steps=500")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.add_argument("--fresh", action="store_true", help="ignore an existing OUT/last.pt")
    t.set_defaults(fn=cmd_train)

    s = sub.add_parser("sample", help="draw samples from a checkpoint")
    s.add_argument("checkpoint")
    s.add_argument("--out", required=True, help="samples file (.pt or .npz)")
    s.add_argument("--sampler", help="gd, nag, adam, any torch.optim name; euler/heun for FM")
    s.add_argument("--lr", type=float, help="descent step (default 0.425 / steps)")
    s.add_argument("--lr-scale", type=float, help="multiply the step size")
    s.add_argument("--momentum", type=float, help="NAG-GD look-ahead mu")
    s.add_argument("--steps", type=int, help="step budget / ODE steps")
    s.add_argument("--g-min", type=float, help="adaptive-compute gradient-norm threshold")
    s.add_argument("--n", type=int, help="number of samples")
    s.add_argument("--seed", type=int, help="noise seed")
    s.add_argument("--batch", type=int, help="samples per forward pass")
    s.add_argument("--device", default="cpu")
    s.set_defaults(fn=cmd_sample)

    e = sub.add_parser("evaluate", help="score samples against a dataset or a reference")
    e.add_argument("samples")
    e.add_argument("--data", help="dataset name (default: the one the samples came from)")
    e.add_argument("--ref", help="reference samples file instead of a dataset")
    e.add_argument("--json", help="also write the metrics here")
    e.set_defaults(fn=cmd_evaluate)

    pl = sub.add_parser("plot", help="plot samples, or a 2-D checkpoint's landscape")
    pl.add_argument("source", help="samples file or checkpoint")
    pl.add_argument("--out", required=True, help="PNG file")
    pl.add_argument("--max-images", type=int, default=100)
    pl.set_defaults(fn=cmd_plot)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `energykit` console script; returns the exit status."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # `key=value` overrides may come before or after `--out`; anything else is an error.
    stray = [a for a in extra if args.command != "train" or a.startswith("-") or "=" not in a]
    if stray:
        parser.error(f"unrecognized arguments: {' '.join(stray)}")
    if args.command == "train":
        args.overrides = [*args.overrides, *extra]
    try:
        return int(args.fn(args))
    except (ValueError, ImportError, FileNotFoundError, NonFiniteLossError) as err:
        print(f"energykit {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())

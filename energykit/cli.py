"""The `energykit` command: `train`, `sample`, `evaluate`, `plot`, `latents`, `refbatch`.

```
energykit train RECIPE.yaml --out DIR [section.key=value ...]
energykit sample CHECKPOINT --out FILE [--sampler nag --lr L --steps K --g-min G --n N]
                 [--cfg-scale W --cfg-channels K --vae VAE --png-dir DIR]
energykit evaluate SAMPLES [--data NAME | --ref REFERENCE [--inception NET.pt]] [--json FILE]
energykit plot SAMPLES_OR_CHECKPOINT --out FILE.png
energykit latents IMAGE_DIR --out LATENT_DIR --vae VAE [--image-size 256]
energykit refbatch IMAGE_DIR --out REF.npz [--n 50000]
```

`train`, `sample` and `latents` run sharded under `torchrun --nproc_per_node=N -m energykit`.

Configuration mistakes (unknown keys, wrong types, bad ranges) exit with status 2 and one line
naming the key, the value and what was expected.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from energykit._io import load_npz, load_torch
from energykit.train import (
    ConfigError,
    NonFiniteLossError,
    TrainedModel,
    Trainer,
    generate,
    load_config,
    load_trained,
)
from energykit.train.build import build_data, wrap_field
from energykit.train.config import DataConfig, TrainConfig
from energykit.train.distributed import init_from_env
from energykit.train.evaluate import SW_PROJECTIONS, score_samples
from energykit.train.sampling import load_samples, sample_to_file

__all__ = ["build_parser", "load_samples", "main"]


def enable_tf32() -> None:
    """Let float32 matmuls and convolutions on CUDA use TF32 (what the paper's fp32 runs did
    on A100/H100). Only the recipe runner calls this, when a recipe sets `train.tf32`."""
    torch.backends.cuda.matmul.fp32_precision = "tf32"
    torch.backends.cudnn.conv.fp32_precision = "tf32"  # type: ignore[attr-defined]


def cmd_train(args: argparse.Namespace) -> int:
    cfg = load_config(args.recipe, args.overrides)
    if cfg.train.tf32 and torch.device(cfg.train.device).type == "cuda":
        enable_tf32()
    trainer = Trainer(cfg, args.out, progress=not args.no_progress, resume=not args.fresh)
    main_rank = trainer.dist.is_main
    if main_rank:
        print(
            f"training {cfg.objective.kind} on {cfg.data.name}: {trainer.n_parameters:,} "
            f"parameters, steps {trainer.step} -> {cfg.train.steps}, out {args.out}",
            file=sys.stderr,
        )
    history = trainer.fit()
    if not main_rank:
        return 0
    last = next((r for r in reversed(history) if "loss" in r), None)
    print(
        f"checkpoint: {Path(args.out) / 'last.pt'}"
        + (f" (loss {last['loss']:.4f})" if last else "")
    )
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    device = torch.device(args.device)
    dist = init_from_env(device)
    if device.type == "cuda" and dist.active and device.index is None:
        device = torch.device("cuda", dist.local_rank)
    model = (
        load_trained(args.checkpoint, device)
        if args.reference is None
        else _reference_model(args.checkpoint, args.reference, args.preset, args.num_heads)
    )
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
            "cfg_scale": args.cfg_scale,
            "cfg_channels": args.cfg_channels,
            "nonfinite": args.nonfinite,
        }.items()
        if v is not None
    }
    raw = {**model.config.to_dict(), "sample": {**model.config.sample.__dict__, **overrides}}
    cfg = TrainConfig.from_dict(raw).sample  # validated like a recipe
    decode = None
    if args.vae is not None:
        from energykit.interop.vae import decode_latents, load_vae

        decode = functools.partial(decode_latents, load_vae(args.vae, device))
    summary = sample_to_file(
        model,
        args.out,
        cfg,
        device=device,
        dist=dist,
        decode=decode,
        png_dir=args.png_dir,
        progress=not args.no_progress,
    )
    if summary is not None:
        extra = f", steps mean {summary['steps_mean']:.1f}" if "steps_mean" in summary else ""
        print(
            f"{summary['n']} samples -> {args.out} (NFE/sample {summary['nfe_mean']:.1f}"
            f"{extra}, {summary['seconds']:.1f}s)"
        )
    return 0


def _reference_model(
    path: str, ebm: str, preset: str | None, num_heads: int | None
) -> TrainedModel:
    """A checkpoint of the reference EqM release as a `TrainedModel` (paper sign, its field)."""
    from energykit.interop import load_reference_eqm

    extra = {} if num_heads is None else {"num_heads": num_heads}
    field = load_reference_eqm(path, model=preset, ebm=ebm, **extra)  # type: ignore[arg-type]
    net: Any = field.net
    dit = getattr(net, "net", net)  # Negated(DiT) for the implicit and dot heads
    classes = dit.num_classes
    kind = {"none": "eqm", "dot": "eqm-dot", "l2": "eqm-l2"}[ebm]
    raw = {
        "data": {"name": "latents", "path": str(path), "class_conditional": classes is not None},
        "net": {"kind": "dit", "preset": preset or "EqM-B/2"},
        "objective": {"kind": kind},
    }
    shape = (dit.in_channels, dit.input_size, dit.input_size)
    return TrainedModel(net, kind, shape, classes, TrainConfig.from_dict(raw), 0, field=field)


def cmd_latents(args: argparse.Namespace) -> int:
    from energykit.data.latents import verify_latents

    if args.verify:
        bad = verify_latents(args.out)
        print(f"latents {args.out}: " + ("all checksums match" if not bad else f"BAD: {bad}"))
        return 0 if not bad else 1
    if args.images is None or args.vae is None:
        raise ConfigError("latents: give IMAGE_DIR and --vae (or --verify with --out)")
    from energykit.data.encode import encode_folder
    from energykit.interop.vae import encode_moments, load_vae, vae_scaling_factor
    from energykit.train.distributed import barrier

    device = torch.device(args.device)
    dist = init_from_env(device)
    if device.type == "cuda" and dist.active and device.index is None:
        device = torch.device("cuda", dist.local_rank)
    dtype = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
    vae = load_vae(args.vae, device, dtype[args.dtype])
    manifest = encode_folder(
        args.images,
        args.out,
        functools.partial(encode_moments, vae),
        scaling_factor=vae_scaling_factor(vae),
        device=device,
        rank=dist.rank,
        world_size=dist.world_size,
        barrier=functools.partial(barrier, dist),
        image_size=args.image_size,
        batch=args.batch,
        shard_size=args.shard_size,
        flip=not args.no_flip,
        workers=args.workers,
        vae_name=str(args.vae),
        progress=not args.no_progress,
    )
    if manifest is not None:
        print(
            f"latents: {manifest.count} images, {len(manifest.classes)} classes, latent "
            f"{tuple(manifest.latent_shape)} x {manifest.views} view(s) -> {args.out}"
        )
    return 0


def cmd_refbatch(args: argparse.Namespace) -> int:
    from energykit._io import atomic_savez
    from energykit.data.folder import ImageFolder

    folder = ImageFolder(args.images, args.image_size, flip=False)
    n = len(folder) if args.n is None else min(args.n, len(folder))
    idx = torch.randperm(len(folder), generator=torch.Generator().manual_seed(args.seed))[:n]
    images = np.stack([folder.load(int(i)) for i in idx.sort().values])
    labels = np.array([folder.samples[int(i)][1] for i in idx.sort().values], dtype=np.int64)
    atomic_savez(args.out, {"arr_0": images, "arr_1": labels})
    print(f"refbatch: {n} images {images.shape[1:]} -> {args.out}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from energykit.metrics import energy_distance, frechet_distance, mmd, sliced_wasserstein

    x, meta = load_samples(args.samples)
    if args.inception is not None:
        from energykit.metrics.inception import FeatureNetwork, fid_report
        from energykit.train.sampling import to_uint8_images

        if args.ref is None:
            raise ConfigError("evaluate: --inception needs --ref REFERENCE.npz (ADM layout)")
        ref, _ = load_samples(args.ref)
        x, ref = (t if t.dtype == torch.uint8 else to_uint8_images(t) for t in (x, ref))
        net = FeatureNetwork(args.inception, args.device)
        stats = None
        if Path(args.ref).suffix == ".npz" and not args.ref_images:
            f = load_npz(args.ref, what="--ref")
            if "mu" in f and "sigma" in f:  # ADM reference batches carry these
                mu, sigma = f["mu"], f["sigma"]
                stats = (torch.from_numpy(mu).double(), torch.from_numpy(sigma).double())
        metrics: dict[str, Any] = fid_report(x, ref, net, pr_max=args.pr_max, reference_stats=stats)
    elif args.ref is not None:
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
    s.add_argument("--cfg-scale", type=float, help="classifier-free guidance weight")
    s.add_argument("--cfg-channels", type=int, help="guide only the first k channels")
    s.add_argument("--nonfinite", choices=["raise", "freeze"], help="on NaN/inf: raise or freeze")
    s.add_argument("--vae", help="decode latents with this AutoencoderKL (folder or cached id)")
    s.add_argument("--png-dir", help="also write every image as a PNG here")
    s.add_argument(
        "--reference",
        choices=["none", "dot", "l2"],
        help="CHECKPOINT is from the reference EqM release, with this energy head",
    )
    s.add_argument("--preset", help="reference model preset, e.g. EqM-XL/2")
    s.add_argument("--num-heads", type=int, help="reference attention heads (without --preset)")
    s.add_argument("--device", default="cpu", help="cpu or cuda (cuda:LOCAL_RANK under torchrun)")
    s.add_argument("--no-progress", action="store_true")
    s.set_defaults(fn=cmd_sample)

    la = sub.add_parser("latents", help="encode an image folder into cached VAE latents")
    la.add_argument("images", nargs="?", help="folder with one subfolder of images per class")
    la.add_argument("--out", required=True, help="latent folder (resumes if it exists)")
    la.add_argument("--vae", help="AutoencoderKL folder or cached model id")
    la.add_argument("--image-size", type=int, default=256)
    la.add_argument("--batch", type=int, default=64)
    la.add_argument("--shard-size", type=int, default=10_000)
    la.add_argument("--no-flip", action="store_true", help="do not encode mirrored images")
    la.add_argument("--workers", type=int, default=0, help="DataLoader workers")
    la.add_argument("--device", default="cpu")
    la.add_argument("--dtype", choices=["float32", "float16", "bfloat16"], default="float32")
    la.add_argument("--verify", action="store_true", help="recheck the checksums of --out")
    la.add_argument("--no-progress", action="store_true")
    la.set_defaults(fn=cmd_latents)

    rb = sub.add_parser("refbatch", help="centre-cropped reference images as an ADM .npz")
    rb.add_argument("images")
    rb.add_argument("--out", required=True, help=".npz file")
    rb.add_argument("--image-size", type=int, default=256)
    rb.add_argument("--n", type=int, help="random subset of this many images (default all)")
    rb.add_argument("--seed", type=int, default=0)
    rb.set_defaults(fn=cmd_refbatch)

    e = sub.add_parser("evaluate", help="score samples against a dataset or a reference")
    e.add_argument("samples")
    e.add_argument("--data", help="dataset name (default: the one the samples came from)")
    e.add_argument("--ref", help="reference samples file instead of a dataset")
    e.add_argument("--json", help="also write the metrics here")
    e.add_argument(
        "--inception",
        help="FID / precision / recall with this TorchScript feature network "
        "(inception-2015-12-05.pt; see docs) against --ref images",
    )
    e.add_argument("--pr-max", type=int, default=10_000, help="images per side for P/R")
    e.add_argument(
        "--ref-images",
        action="store_true",
        help="FID against the reference images even when --ref carries mu/sigma statistics",
    )
    e.add_argument("--device", default="cpu")
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
    ok = False
    try:
        status = int(args.fn(args))
        ok = True
        return status
    except (ValueError, ImportError, FileNotFoundError, NonFiniteLossError) as err:
        print(f"energykit {args.command}: error: {err}", file=sys.stderr)
        return 2
    finally:
        _shutdown_process_group(wait=ok)


def _shutdown_process_group(wait: bool) -> None:
    """Under torchrun: tear the process group down before the interpreter exits (a live gloo
    group at exit can abort a rank whose peers are still finishing). After a success every
    rank first waits for the others; after an error it does not (peers may be elsewhere)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        try:
            if wait:
                dist.barrier()
        finally:
            dist.destroy_process_group()


if __name__ == "__main__":
    raise SystemExit(main())

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

Every user error (a bad flag or `key=value` override, a missing, unreadable or wrong kind of
file, a device this machine lacks, a non-finite loss) exits with status 2 and one line on stderr,
`energykit COMMAND: error: MESSAGE`, naming the flag or key and what was expected. Anything else
(a bug) exits with status 1 and one line naming the exception type. `--debug` (or the
environment variable `ENERGYKIT_DEBUG=1`) also prints the traceback.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import sys
import traceback
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import torch

from energykit._io import load_npz, load_torch
from energykit.train import (
    ConfigError,
    TrainedModel,
    Trainer,
    generate,
    load_config,
    load_trained,
)
from energykit.train.build import build_data, wrap_field
from energykit.train.config import DataConfig, DataName, TrainConfig, available_device
from energykit.train.distributed import init_from_env
from energykit.train.evaluate import SW_PROJECTIONS, score_samples
from energykit.train.sampling import load_samples, sample_to_file

__all__ = ["build_parser", "load_samples", "main"]

#: Datasets `energykit evaluate` can score against by name (each has a held-out split).
EVALUATE_DATA = tuple(name for name in typing.get_args(DataName) if name != "latents")


def enable_tf32() -> None:
    """Let float32 matmuls and convolutions on CUDA use TF32 (what the paper's fp32 runs did
    on A100/H100). Only the recipe runner calls this, when a recipe sets `train.tf32`."""
    torch.backends.cuda.matmul.fp32_precision = "tf32"
    torch.backends.cudnn.conv.fp32_precision = "tf32"  # type: ignore[attr-defined]


def cmd_train(args: argparse.Namespace) -> int:
    _check_folder(args.out, "--out", "a run directory (it holds last.pt, log.jsonl)")
    resume = _resume_choice(args.resume_from, args.fresh)
    cfg = load_config(args.recipe, args.overrides)
    available_device(cfg.train.device, "train.device")
    _check_sampler(cfg.sample.sampler, cfg.objective.kind, "sample.sampler")
    if cfg.train.tf32 and torch.device(cfg.train.device).type == "cuda":
        enable_tf32()
    trainer = Trainer(cfg, args.out, progress=not args.no_progress, resume=resume)
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


def _resume_choice(resume_from: str | None, fresh: bool) -> bool | Path:
    """`Trainer`'s `resume`: a checkpoint file (`--resume-from`), or whether to continue from
    `OUT/last.pt` (not with `--fresh`)."""
    if resume_from is None:
        return not fresh
    if fresh:
        raise ConfigError("--resume-from: cannot be combined with --fresh (which starts at step 0)")
    path = Path(resume_from)
    if path.is_dir():
        raise IsADirectoryError(
            f"--resume-from {resume_from!r}: a folder; expected a checkpoint file such as "
            "RUN/step_0000200.pt or RUN/last.pt"
        )
    if not path.is_file():
        raise FileNotFoundError(f"--resume-from: no file at {resume_from!r}")
    return path


def _check_sampler(name: str, kind: str, key: str) -> None:
    """Refuse an unknown descent optimiser name before any work is done."""
    if kind.startswith("fm") or name in ("euler", "heun"):
        return  # the recipe validation pairs ODE samplers with flow matching
    from energykit.descent import resolve_optimizer

    try:
        resolve_optimizer(name)
    except ValueError as err:
        raise ConfigError(f"{key}: {err}") from None


def _check_folder(path: str, flag: str, expected: str) -> None:
    """Refuse a folder argument that names a file, or lies under one."""
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise FileExistsError(f"{flag} {path!r}: a file; expected {expected}")
    _check_parents(target, flag)


def _check_out_file(path: str, flag: str) -> None:
    """Refuse an output file argument that names a folder, or lies under a file."""
    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(f"{flag} {path!r}: a folder; expected a file name")
    _check_parents(target, flag)


def _check_parents(target: Path, flag: str) -> None:
    for parent in target.parents:
        if parent.exists():
            if not parent.is_dir():
                raise NotADirectoryError(
                    f"{flag} {str(target)!r}: {str(parent)!r} is a file, not a folder"
                )
            return


def cmd_sample(args: argparse.Namespace) -> int:
    if args.reference is None and (args.preset is not None or args.num_heads is not None):
        flag = "--preset" if args.preset is not None else "--num-heads"
        raise ConfigError(f"{flag}: only for reference checkpoints (with --reference)")
    _check_out_file(args.out, "--out")
    if args.png_dir is not None:
        _check_folder(args.png_dir, "--png-dir", "a folder for the PNG files")
    device = available_device(args.device, "--device")
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
    if args.sampler is not None:
        _check_sampler(args.sampler, model.kind, "--sampler")
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
    _check_folder(args.out, "--out", "a latent folder")
    from energykit.data.encode import encode_folder
    from energykit.interop.vae import encode_moments, load_vae, vae_scaling_factor
    from energykit.train.distributed import barrier

    device = available_device(args.device, "--device")
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

    _check_out_file(args.out, "--out")
    if Path(args.out).suffix != ".npz":
        raise ConfigError(f"--out: expected an .npz file, got {args.out!r}")
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

    device = available_device(args.device, "--device")
    if args.json is not None:
        _check_out_file(args.json, "--json")
    if args.ref_images and args.inception is None:
        raise ConfigError("--ref-images: only with --inception (FID against --ref images)")
    x, meta = _read_samples(args.samples, "SAMPLES")
    if args.inception is not None:
        from energykit.metrics.inception import FeatureNetwork, fid_report
        from energykit.train.sampling import to_uint8_images

        if args.ref is None:
            raise ConfigError("--inception: needs --ref REFERENCE.npz (ADM layout)")
        ref, _ = _read_samples(args.ref, "--ref")
        x, ref = (t if t.dtype == torch.uint8 else to_uint8_images(t) for t in (x, ref))
        net = FeatureNetwork(args.inception, device)
        stats = None
        if Path(args.ref).suffix == ".npz" and not args.ref_images:
            f = load_npz(args.ref, what="--ref")
            if "mu" in f and "sigma" in f:  # ADM reference batches carry these
                mu, sigma = f["mu"], f["sigma"]
                stats = (torch.from_numpy(mu).double(), torch.from_numpy(sigma).double())
        metrics: dict[str, Any] = fid_report(x, ref, net, pr_max=args.pr_max, reference_stats=stats)
    elif args.ref is not None:
        ref, _ = _read_samples(args.ref, "--ref")
        _same_shape(x, ref, "--ref", f"the reference {args.ref!r}")
        x, ref = x.float(), ref.float()
        gen = torch.Generator().manual_seed(0)
        metrics = {
            "mmd": float(mmd(x, ref)),
            "sw": float(sliced_wasserstein(x, ref, n_projections=SW_PROJECTIONS, generator=gen)),
            "energy": float(energy_distance(x, ref)),
            "frechet_pixels": float(frechet_distance(x, ref)),
        }
    else:
        metrics = _score_against_data(x, args.data, meta.get("dataset"))
    text = json.dumps(metrics, indent=2)
    print(text)
    if args.json is not None:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(text)
    return 0


def _score_against_data(x: torch.Tensor, flag: str | None, recorded: Any) -> dict[str, Any]:
    """`score_samples` against `--data` (`flag`) or the dataset the samples record."""
    name = flag or recorded
    key = "--data" if flag else "SAMPLES"
    if name is None:
        raise ConfigError("evaluate: give --data NAME or --ref FILE (the samples carry neither)")
    if name not in EVALUATE_DATA:
        raise ConfigError(
            f"{key}: the samples record the dataset {name!r}, which has no held-out split "
            f"here; give --data (one of {list(EVALUATE_DATA)}) or --ref FILE"
        )
    data = build_data(DataConfig(name=typing.cast(DataName, name)))
    _same_shape(x, data.x_test, key, f"the {name!r} data")
    return score_samples(x, data)


def _same_shape(x: torch.Tensor, ref: torch.Tensor, flag: str, what: str) -> None:
    """Refuse samples whose per-sample shape differs from the reference's."""
    if x.shape[1:] != ref.shape[1:]:
        raise ConfigError(
            f"{flag}: the samples have shape {tuple(x.shape[1:])} each, but {what} has "
            f"{tuple(ref.shape[1:])}; score samples against data of the same shape"
        )


def _read_samples(path: str, flag: str) -> tuple[torch.Tensor, dict[str, Any]]:
    """`load_samples`, with one-line errors for files that hold something else."""
    if Path(path).is_dir():
        raise IsADirectoryError(f"{flag} {path!r}: a folder; expected a samples file")
    if not Path(path).is_file():
        raise FileNotFoundError(f"{flag}: no file at {path!r}")
    try:
        x, meta = load_samples(path)
    except (KeyError, TypeError, IndexError):
        raise ConfigError(_not_samples(path, flag)) from None
    if not isinstance(x, torch.Tensor) or x.ndim < 2 or len(x) == 0:
        got = f"shape {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
        raise ConfigError(f"{flag} {path!r}: expected samples (n, *shape) with n >= 1, got {got}")
    return x, meta


def _not_samples(path: str, flag: str) -> str:
    """Why the file at `path` is not a samples file (it loaded, but holds no `x`)."""
    from energykit.train.trainer import CHECKPOINT_FORMAT

    payload = load_torch(path, what=flag)
    if isinstance(payload, dict) and payload.get("format") == CHECKPOINT_FORMAT:
        return (
            f"{flag} {path!r}: a training checkpoint, not a samples file; make one with "
            f"`energykit sample {path} --out SAMPLES.pt`"
        )
    keys = sorted(map(str, payload)) if isinstance(payload, dict) else type(payload).__name__
    return (
        f"{flag} {path!r}: expected a samples file (a tensor, or a dict with the samples "
        f"under 'x', as `energykit sample` writes), got {keys}"
    )


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


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, `PROG: error: MESSAGE`."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {_one_line(message)} (see --help)\n")


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """`--help` shows each option's default, except unset (`None`) and off switches."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False, [], argparse.SUPPRESS):
            return action.help
        return super()._get_help_string(action)


def _number(cast: Callable[[str], Any], low: float, strict: bool) -> Callable[[str], Any]:
    """An argparse `type`: a finite number `> low` (`strict`) or `>= low`."""
    relation = f"> {low:g}" if strict else f">= {low:g}"
    noun = "an integer" if cast is int else "a number"

    def parse(text: str) -> Any:
        try:
            value = cast(text)
        except ValueError:
            value = None
        ok = value is not None and math.isfinite(value)
        if not ok or (value <= low if strict else value < low):
            raise argparse.ArgumentTypeError(f"expected {noun} {relation}, got {text!r}")
        return value

    parse.__name__ = noun  # argparse names the type in some messages
    return parse


_POSITIVE_INT = _number(int, 0, strict=True)
_NONNEG_INT = _number(int, 0, strict=False)
_POSITIVE = _number(float, 0.0, strict=True)
_NONNEG = _number(float, 0.0, strict=False)
_FINITE = _number(float, -math.inf, strict=True)


def _command(sub: Any, name: str, text: str, description: str | None = None) -> Any:
    """A subcommand parser with defaults in `--help` and its own `--debug` switch."""
    parser = sub.add_parser(
        name, help=text, description=description or text, formatter_class=_Formatter
    )
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    parser.set_defaults(parser=parser)
    return parser


DEBUG_HELP = "on an error, also print the traceback (or set ENERGYKIT_DEBUG=1)"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `energykit` command."""
    p = _Parser(
        prog="energykit", description="Equilibrium Matching toolkit", formatter_class=_Formatter
    )
    p.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = p.add_subparsers(dest="command", required=True)

    t = _command(sub, "train", "train a recipe (resumes from OUT/last.pt)")
    t.add_argument("recipe", help="recipe file (.yaml or .json)")
    t.add_argument("--out", required=True, help="run directory")
    t.add_argument(
        "overrides", nargs="*", default=[], help="section.key=value, e.g. train.steps=500"
    )
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.add_argument("--fresh", action="store_true", help="ignore an existing OUT/last.pt")
    t.add_argument(
        "--resume-from",
        metavar="CHECKPOINT",
        help="resume from this checkpoint (e.g. OUT/step_0000200.pt) instead of OUT/last.pt",
    )
    t.set_defaults(fn=cmd_train)

    s = _command(
        sub,
        "sample",
        "draw samples from a checkpoint",
        "Draw samples from a checkpoint. Options left unset take the value of the "
        "checkpoint recipe's `sample` section.",
    )
    s.add_argument("checkpoint", help="checkpoint written by `energykit train`")
    s.add_argument("--out", required=True, help="samples file (.pt or .npz)")
    s.add_argument("--sampler", help="gd, nag, adam, any torch.optim name; euler/heun for FM")
    s.add_argument("--lr", type=_POSITIVE, help="descent step (recipe default 0.425 / steps)")
    s.add_argument("--lr-scale", type=_POSITIVE, help="multiply the step size")
    s.add_argument("--momentum", type=_NONNEG, help="NAG-GD look-ahead mu")
    s.add_argument("--steps", type=_POSITIVE_INT, help="step budget / ODE steps")
    s.add_argument("--g-min", type=_POSITIVE, help="adaptive-compute gradient-norm threshold")
    s.add_argument("--n", type=_POSITIVE_INT, help="number of samples")
    s.add_argument("--seed", type=_NONNEG_INT, help="noise seed")
    s.add_argument("--batch", type=_POSITIVE_INT, help="samples per forward pass")
    s.add_argument("--cfg-scale", type=_FINITE, help="classifier-free guidance weight")
    s.add_argument("--cfg-channels", type=_POSITIVE_INT, help="guide only the first k channels")
    s.add_argument("--nonfinite", choices=["raise", "freeze"], help="on NaN/inf: raise or freeze")
    s.add_argument("--vae", help="decode latents with this AutoencoderKL (folder or cached id)")
    s.add_argument("--png-dir", help="also write every image as a PNG here")
    s.add_argument(
        "--reference",
        choices=["none", "dot", "l2"],
        help="CHECKPOINT is from the reference EqM release, with this energy head",
    )
    s.add_argument("--preset", help="reference model preset, e.g. EqM-XL/2")
    s.add_argument(
        "--num-heads", type=_POSITIVE_INT, help="reference attention heads (without --preset)"
    )
    s.add_argument("--device", default="cpu", help="cpu or cuda (cuda:LOCAL_RANK under torchrun)")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    s.set_defaults(fn=cmd_sample)

    la = _command(sub, "latents", "encode an image folder into cached VAE latents")
    la.add_argument("images", nargs="?", help="folder with one subfolder of images per class")
    la.add_argument("--out", required=True, help="latent folder (resumes if it exists)")
    la.add_argument("--vae", help="AutoencoderKL folder or cached model id")
    la.add_argument("--image-size", type=_POSITIVE_INT, default=256, help="centre crop size")
    la.add_argument("--batch", type=_POSITIVE_INT, default=64, help="images per VAE pass")
    la.add_argument("--shard-size", type=_POSITIVE_INT, default=10_000, help="images per shard")
    la.add_argument("--no-flip", action="store_true", help="do not encode mirrored images")
    la.add_argument("--workers", type=_NONNEG_INT, default=0, help="DataLoader workers")
    la.add_argument("--device", default="cpu", help="cpu or cuda (cuda:LOCAL_RANK under torchrun)")
    la.add_argument(
        "--dtype",
        choices=["float32", "float16", "bfloat16"],
        default="float32",
        help="VAE precision",
    )
    la.add_argument("--verify", action="store_true", help="recheck the checksums of --out")
    la.add_argument("--no-progress", action="store_true", help="no progress bar")
    la.set_defaults(fn=cmd_latents)

    rb = _command(sub, "refbatch", "centre-cropped reference images as an ADM .npz")
    rb.add_argument("images", help="folder with one subfolder of images per class")
    rb.add_argument("--out", required=True, help=".npz file")
    rb.add_argument("--image-size", type=_POSITIVE_INT, default=256, help="centre crop size")
    rb.add_argument(
        "--n", type=_POSITIVE_INT, help="random subset of this many images (default all)"
    )
    rb.add_argument("--seed", type=_NONNEG_INT, default=0, help="seed of the subset")
    rb.set_defaults(fn=cmd_refbatch)

    e = _command(sub, "evaluate", "score samples against a dataset or a reference")
    e.add_argument("samples", help="samples file (.pt or .npz) written by `energykit sample`")
    against = e.add_mutually_exclusive_group()
    against.add_argument(
        "--data",
        choices=EVALUATE_DATA,
        help="dataset name (default: the one the samples came from)",
    )
    against.add_argument("--ref", help="reference samples file instead of a dataset")
    e.add_argument("--json", help="also write the metrics here")
    e.add_argument(
        "--inception",
        help="FID / precision / recall with this TorchScript feature network "
        "(inception-2015-12-05.pt; see docs) against --ref images",
    )
    e.add_argument("--pr-max", type=_POSITIVE_INT, default=10_000, help="images per side for P/R")
    e.add_argument(
        "--ref-images",
        action="store_true",
        help="FID against the reference images even when --ref carries mu/sigma statistics",
    )
    e.add_argument("--device", default="cpu", help="device of the --inception network")
    e.set_defaults(fn=cmd_evaluate)

    pl = _command(sub, "plot", "plot samples, or a 2-D checkpoint's landscape")
    pl.add_argument("source", help="samples file or checkpoint")
    pl.add_argument("--out", required=True, help="PNG file")
    pl.add_argument(
        "--max-images", type=_POSITIVE_INT, default=100, help="images in a grid at most"
    )
    pl.set_defaults(fn=cmd_plot)
    return p


#: Exceptions that mean the input was wrong (a flag, a key, a file, the machine), not a bug:
#: status 2. `ConfigError` and `UnreadableFileError` are `ValueError`s, `NonFiniteLossError` a
#: `FloatingPointError`; `KeyError`/`TypeError` from user files are turned into `ConfigError`
#: where they arise, so those that remain here are treated as bugs (status 1).
USER_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    ImportError,
    OSError,
    FloatingPointError,
)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `energykit` console script; returns the exit status (0 done, 1 an
    unexpected error, 2 a user error; usage errors exit 2 through `SystemExit`)."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # `key=value` overrides may come before or after `--out`; anything else is an error.
    stray = [a for a in extra if args.command != "train" or a.startswith("-") or "=" not in a]
    if stray:
        args.parser.error(f"unrecognized arguments: {' '.join(stray)}")
    if args.command == "train":
        args.overrides = [*args.overrides, *extra]
    debug = bool(args.debug) or os.environ.get("ENERGYKIT_DEBUG", "") not in ("", "0")
    ok = False
    try:
        status = int(args.fn(args))
        ok = True
        return status
    except KeyboardInterrupt:
        print(f"energykit {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        return _report(err, args.command, debug)
    finally:
        _shutdown_process_group(wait=ok)


def _report(err: Exception, command: str, debug: bool) -> int:
    """Print `err` as one line (after its traceback with `debug`); return the exit status."""
    if debug:
        traceback.print_exception(err)
    message = _one_line(str(err)) or type(err).__name__
    if isinstance(err, USER_ERRORS):
        status = 2
    else:
        hint = "" if debug else "; run with --debug for the traceback"
        message = f"unexpected {type(err).__name__}: {message}{hint}"
        status = 1
    print(f"energykit {command}: error: {message}", file=sys.stderr)
    return status


def _one_line(text: str) -> str:
    """`text` with its lines joined by spaces."""
    return " ".join(line.strip() for line in text.strip().splitlines() if line.strip())


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

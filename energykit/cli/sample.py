"""`energykit sample CHECKPOINT --out FILE [--sampler ... --reference HEAD ...]`."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import sys
from collections.abc import Callable
from typing import Any

import torch

from energykit.cli._args import SAMPLE_FLAGS
from energykit.cli._common import check_folder, check_out_file
from energykit.cli._reference import load_ours
from energykit.sampling import Solver, sample_to_file
from energykit.train import ConfigError, TrainConfig, TrainedModel
from energykit.train.device import device_and_rank


def cmd_sample(args: argparse.Namespace) -> int:
    """Draw samples from a checkpoint (ours, or the reference release's with `--reference`)
    into a file, sharded under torchrun."""
    if args.reference is not None and args.weights != "ema":
        raise ConfigError("--weights: only for energykit checkpoints (not with --reference)")
    if args.reference is None and (args.preset is not None or args.num_heads is not None):
        flag = "--preset" if args.preset is not None else "--num-heads"
        raise ConfigError(f"{flag}: only for reference checkpoints (with --reference)")
    check_out_file(args.out, "--out")
    if args.png_dir is not None:
        check_folder(args.png_dir, "--png-dir", "a folder for the PNG files")
    device, dist = device_and_rank(args.device, "--device")
    model = (
        load_ours(args.checkpoint, device, args.weights, "sample")
        if args.reference is None
        else reference_model(args.checkpoint, args.reference, args.preset, args.num_heads)
    )
    overrides = {k: getattr(args, k) for k in SAMPLE_FLAGS if getattr(args, k) is not None}
    embedded = embedded_solver(model, args)
    if args.solver is not None:
        overrides.update(solver_overrides(args))
    elif embedded is not None:
        # A folder's embedded solver replaces any solver file its recipe names.
        overrides.update({"steps": embedded.steps, "lr": None, "solver": None})
    elif args.force:
        raise ConfigError("--force: only with --solver")
    cfg = dataclasses.replace(model.config.sample, **overrides).check(
        flow_matching=model.spec.flow_matching,
        class_conditional=model.num_classes is not None,
    )
    summary = sample_to_file(
        model,
        args.out,
        cfg,
        device=device,
        dist=dist,
        decode=_decoder(args.vae, device),
        png_dir=args.png_dir,
        progress=args.progress is not False,
        step_progress=step_bars(args.progress),
        force_solver=args.force,
        solver=embedded,
    )
    if summary is not None:
        extra = f", steps mean {summary['steps_mean']:.1f}" if "steps_mean" in summary else ""
        print(
            f"{summary['n']} samples -> {args.out} (NFE/sample {summary['nfe_mean']:.1f}"
            f"{extra}, {summary['seconds']:.1f}s)"
        )
    return 0


def solver_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """`--solver`: the sample settings it fixes (its steps, no `lr`), refusing flags that
    contradict it, each by name."""
    from energykit.descent import Solver

    solver = Solver.load(args.solver)
    if args.steps is not None and args.steps != solver.steps:
        raise ConfigError(
            f"--steps: the solver {args.solver!r} has {solver.steps} steps, got {args.steps} "
            "(leave --steps unset with --solver)"
        )
    for flag in ("sampler", "lr", "momentum"):
        if getattr(args, flag) is not None:
            raise ConfigError(f"--{flag}: the solver {args.solver!r} fixes it; drop --{flag}")
    return {"solver": args.solver, "steps": solver.steps, "lr": None}


def embedded_solver(model: TrainedModel, args: argparse.Namespace) -> Solver | None:
    """The calibrated solver an exported folder carries, used unless `--solver` or one of
    `--sampler`, `--lr`, `--momentum`, `--steps` chooses another descent."""
    flags = ("solver", "sampler", "lr", "momentum", "steps")
    chosen = [f for f in flags if getattr(args, f) is not None]
    return None if chosen else model.solver


def step_bars(flag: bool | None) -> bool:
    """Whether to show a bar over the descent steps: `--progress` (`True`, needs tqdm),
    `--no-progress` (`False`), or by default when tqdm is installed and stderr is a terminal."""
    try:
        import tqdm  # noqa: F401
    except ImportError:
        if flag:
            raise ConfigError("--progress: needs tqdm (pip install tqdm)") from None
        return False
    return sys.stderr.isatty() if flag is None else flag


def _decoder(vae: str | None, device: torch.device) -> Callable[[torch.Tensor], Any] | None:
    """Latents `(B, C, h, w)` to uint8 images with the VAE `vae`, or `None` without one."""
    if vae is None:
        return None
    from energykit.interop.vae import decode_latents, load_vae

    return functools.partial(decode_latents, load_vae(vae, device))


def reference_model(path: str, ebm: str, preset: str | None, num_heads: int | None) -> TrainedModel:
    """A checkpoint of the reference EqM release as a `TrainedModel` whose `field()` is the
    converted reference field (paper sign); its kind follows from the head."""
    from energykit.interop import load_reference_eqm

    extra = {} if num_heads is None else {"num_heads": num_heads}
    field = load_reference_eqm(path, model=preset, ebm=ebm, **extra)  # type: ignore[arg-type]
    net: Any = field.net
    dit = getattr(net, "net", net)  # Negated(DiT) for the implicit and dot heads
    classes = dit.num_classes
    raw = {
        "data": {"name": "latents", "path": str(path), "class_conditional": classes is not None},
        "net": {"kind": "dit", "preset": preset or "EqM-B/2"},
        "objective": {"kind": _kind_name(field)},
    }
    shape = (dit.in_channels, dit.input_size, dit.input_size)
    config = TrainConfig.from_dict(raw)
    return TrainedModel.from_field(field, shape=shape, num_classes=classes, config=config)


def _kind_name(field: Any) -> str:
    from energykit.objectives import kind_of_field

    return kind_of_field(field).name

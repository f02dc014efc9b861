"""`energykit calibrate CHECKPOINT --steps K --out SOLVER.json`."""

from __future__ import annotations

import argparse
import dataclasses
import sys

from energykit._config import ConfigError
from energykit.cli._common import check_out_file
from energykit.cli._reference import load_ours
from energykit.descent.fewstep import CALIBRATION_MIN_STEPS
from energykit.sampling.calibration import calibrate_model
from energykit.train.device import device_and_rank


def cmd_calibrate(args: argparse.Namespace) -> int:
    """Fit a `--steps`-evaluation solver for an EqM checkpoint and write it to `--out`."""
    check_out_file(args.out, "--out")
    if not str(args.out).endswith(".json"):
        raise ConfigError(f"--out: expected a .json solver file, got {args.out!r}")
    device, _ = device_and_rank(args.device, "--device")
    model = load_ours(args.checkpoint, device, args.weights, "calibrate")
    if model.spec.flow_matching:
        raise ConfigError(
            f"checkpoint {args.checkpoint!r}: a {model.kind!r} model is flow matching; "
            "calibrated solvers descend EqM fields"
        )
    model.net.to(device)
    if args.steps < CALIBRATION_MIN_STEPS:
        print(
            f"calibrate: at {args.steps} steps a calibrated solver measured worse than the "
            f"training-free default (docs/fewstep.md); consider `energykit sample --steps "
            f"{args.steps}` without a solver",
            file=sys.stderr,
        )
    cfg = model.config.sample
    if args.cfg_scale is not None:
        cfg = dataclasses.replace(cfg, cfg_scale=args.cfg_scale)

    def report(iteration: int, loss: float) -> None:
        print(
            f"calibrate: iteration {iteration}/{args.iterations}, loss {loss:.5g}", file=sys.stderr
        )

    solver, _ = calibrate_model(
        model,
        args.steps,
        cfg,
        n=args.samples,
        seed=args.seed,
        device=device,
        callback=report,
        iterations=args.iterations,
        loss=args.loss,
    )
    solver.save(args.out)
    fit = solver.fit
    print(
        f"solver ({solver.steps} evaluations per sample) -> {args.out} (loss "
        f"{fit['loss_before']:.4g} -> {fit['loss_after']:.4g}, {fit['seconds']:.1f}s)"
    )
    return 0

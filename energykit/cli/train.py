"""`energykit train RECIPE --out DIR [section.key=value ...]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from energykit._config import available_device
from energykit.cli._common import check_folder
from energykit.cli._reference import refuse_reference
from energykit.train import ConfigError, TrainConfig, Trainer, load_config


def enable_tf32() -> None:
    """Let float32 matmuls and convolutions on CUDA use TF32 (what the paper's fp32 runs did
    on A100/H100). Only the recipe runner calls this, when a recipe sets `train.tf32`."""
    torch.backends.cuda.matmul.fp32_precision = "tf32"
    torch.backends.cudnn.conv.fp32_precision = "tf32"  # type: ignore[attr-defined]


def cmd_train(args: argparse.Namespace) -> int:
    """Train a recipe (the recipe's sampler is checked when it is loaded)."""
    check_folder(args.out, "--out", "a run directory (it holds last.pt, log.jsonl)")
    resume = _resume_choice(args.resume_from, args.fresh)
    cfg = load_config(args.recipe, args.overrides)
    device = available_device(cfg.train.device, "train.device")
    if cfg.train.tf32 and device.type == "cuda":
        enable_tf32()
    trainer = _trainer(cfg, args.out, not args.no_progress, resume)
    main_rank = trainer.parallel.dist.is_main
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


def _trainer(cfg: TrainConfig, out: str, progress: bool, resume: bool | Path) -> Trainer:
    """The `Trainer`; a refusal of the checkpoint chosen with `--resume-from` names the flag."""
    try:
        return Trainer(cfg, out, progress=progress, resume=resume)
    except ValueError as err:
        if isinstance(resume, Path) and str(err).startswith(f"checkpoint {str(resume)!r}"):
            own = "`energykit train` resumes from its own checkpoints only; sample it with {sample}"
            refuse_reference(str(resume), "--resume-from", own)
            raise ConfigError(f"--resume-from: {err}") from None
        raise


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

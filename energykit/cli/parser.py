"""The argument parser of the `energykit` command: one function per subcommand."""

from __future__ import annotations

import argparse
from typing import Any, NoReturn

from energykit.cli._args import (
    EVALUATE_DATA,
    FINITE,
    NONNEG,
    NONNEG_INT,
    ODE_METHOD_NAMES,
    POSITIVE,
    POSITIVE_INT,
    SAMPLE_FLAGS,
    one_line,
)

#: The `--device` help of the commands that run a network.
DEVICE_HELP = "auto (cuda if present, else cpu), cpu or cuda (cuda:LOCAL_RANK under torchrun)"

DEBUG_HELP = "on an error, also print the traceback (or set ENERGYKIT_DEBUG=1)"


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, `PROG: error: MESSAGE`."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see --help)\n")


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """`--help` shows every option's default: its value, `off` for a switch, `unset` for an
    option left unset (`None`); options whose help already says `(default ...)` and required
    ones are left as they are."""

    #: What `(default: ...)` says for an option left unset.
    unset = "unset"

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if not action.option_strings or action.required or "(default" in text:
            return action.help
        if isinstance(action, argparse._HelpAction):
            return action.help
        return f"{text} (default: {self._default(action)})"

    def _default(self, action: argparse.Action) -> str:
        """The default of `action` as `--help` shows it (a `%`-template argparse fills)."""
        if action.default is None:
            return self.unset
        if action.nargs == 0 and action.default in (False, argparse.SUPPRESS):
            return "off"  # a switch that is not given
        return "%(default)s"


class _RecipeFormatter(_Formatter):
    """`--help` of `energykit sample`: its unset sampler options (`SAMPLE_FLAGS`) take the
    checkpoint recipe's value."""

    def _default(self, action: argparse.Action) -> str:
        if action.default is None and action.dest in SAMPLE_FLAGS:
            return "the recipe's"
        return super()._default(action)


def _command(
    sub: Any,
    name: str,
    text: str,
    description: str | None = None,
    formatter: type[_Formatter] = _Formatter,
) -> Any:
    """A subcommand parser with defaults in `--help` and its own `--debug` switch."""
    parser = sub.add_parser(
        name, help=text, description=description or text, formatter_class=formatter
    )
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    parser.set_defaults(parser=parser)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `energykit` command. Each subcommand sets `fn`, the name of
    its `cmd_*` function in `energykit.cli`."""
    p = _Parser(
        prog="energykit", description="Equilibrium Matching toolkit", formatter_class=_Formatter
    )
    p.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = p.add_subparsers(dest="command", required=True)
    for add in (
        _add_train,
        _add_sample,
        _add_calibrate,
        _add_export,
        _add_latents,
        _add_refbatch,
        _add_evaluate,
        _add_plot,
    ):
        add(sub)
    return p


def _add_train(sub: Any) -> None:
    t = _command(sub, "train", "train a recipe (resumes from OUT/last.pt)")
    t.add_argument("recipe", help="recipe file (.yaml or .json)")
    t.add_argument("--out", required=True, help="run directory")
    t.add_argument(
        "overrides", nargs="*", default=[], help="section.key=value, e.g. train.steps=500"
    )
    t.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress (default: a bar on a terminal, one line per logged step elsewhere)",
    )
    t.add_argument("--fresh", action="store_true", help="ignore an existing OUT/last.pt")
    t.add_argument(
        "--resume-from",
        metavar="CHECKPOINT",
        help="resume from this checkpoint (e.g. OUT/step_0000200.pt) instead of OUT/last.pt",
    )
    t.set_defaults(fn="cmd_train")


def _add_sample(sub: Any) -> None:
    s = _command(
        sub,
        "sample",
        "draw samples from a checkpoint",
        "Draw samples from a checkpoint. Options left unset take the value of the "
        "checkpoint recipe's `sample` section.",
        _RecipeFormatter,
    )
    s.add_argument(
        "checkpoint",
        help="checkpoint written by `energykit train`, or a folder of `energykit export`",
    )
    s.add_argument("--out", required=True, help="samples file (.pt or .npz)")
    s.add_argument(
        "--sampler",
        help="auto (the budget's best default), or for EqM a descent optimiser (gd, nag, "
        "ab2, ab3, adam, any torch.optim name), for FM an ODE method "
        f"({', '.join(ODE_METHOD_NAMES)})",
    )
    s.add_argument(
        "--lr", type=POSITIVE, help="descent step of a named optimiser (unset: 0.425 / steps)"
    )
    s.add_argument("--lr-scale", type=POSITIVE, help="multiply the step size")
    s.add_argument("--momentum", type=NONNEG, help="NAG-GD look-ahead mu")
    s.add_argument("--steps", type=POSITIVE_INT, help="step budget / ODE steps")
    s.add_argument("--g-min", type=POSITIVE, help="adaptive-compute gradient-norm threshold")
    s.add_argument("--n", type=POSITIVE_INT, help="number of samples")
    s.add_argument("--seed", type=NONNEG_INT, help="noise seed")
    s.add_argument("--batch", type=POSITIVE_INT, help="samples per forward pass")
    s.add_argument("--cfg-scale", type=FINITE, help="classifier-free guidance weight")
    s.add_argument("--cfg-channels", type=POSITIVE_INT, help="guide only the first k channels")
    s.add_argument("--nonfinite", choices=["raise", "freeze"], help="on NaN/inf: raise or freeze")
    s.add_argument(
        "--dtype",
        choices=["float32", "bfloat16", "float16"],
        help="precision the network runs in (descent; samples stay float32)",
    )
    s.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        help="torch.compile the network for sampling (descent); --no-compile overrides a "
        "recipe's sample.compile",
    )
    s.add_argument(
        "--weights",
        choices=["ema", "raw"],
        default="ema",
        help="sample the EMA weights or the raw trained weights of the last step",
    )
    _add_solver_options(s)
    s.add_argument("--vae", help="decode latents with this AutoencoderKL (folder or cached id)")
    s.add_argument("--png-dir", help="also write every image as a PNG here")
    _add_reference_options(s)
    s.add_argument("--device", default="auto", help=DEVICE_HELP)
    _add_progress_options(s)
    s.set_defaults(fn="cmd_sample")


def _add_solver_options(s: argparse.ArgumentParser) -> None:
    """`energykit sample --solver S.json [--force]`."""
    s.add_argument(
        "--solver",
        metavar="SOLVER.json",
        help="a calibrated solver (energykit calibrate); fixes the optimiser and the steps",
    )
    s.add_argument(
        "--force",
        action="store_true",
        help="use --solver with another model of the same kind and shape (e.g. another seed)",
    )


def _add_calibrate(sub: Any) -> None:
    c = _command(
        sub,
        "calibrate",
        "fit a few-evaluation solver for a checkpoint",
        "Fit the per-step coefficients of a K-evaluation solver so that it lands where the "
        "paper's 250-step NAG-GD lands, on calibration noise disjoint from the sampling seeds, "
        "and write them to a solver file bound to the checkpoint "
        "(`energykit sample CHECKPOINT --solver SOLVER.json`).",
    )
    c.add_argument("checkpoint", help="checkpoint written by `energykit train` (EqM)")
    c.add_argument("--steps", type=POSITIVE_INT, required=True, help="evaluations per sample K")
    c.add_argument("--out", required=True, help="solver file (.json)")
    c.add_argument("--samples", type=POSITIVE_INT, default=256, help="calibration noise draws")
    c.add_argument("--seed", type=NONNEG_INT, default=10_000, help="calibration noise seed")
    c.add_argument("--iterations", type=POSITIVE_INT, default=300, help="Adam iterations")
    c.add_argument(
        "--loss",
        choices=["mse+energy", "mse", "energy"],
        default="mse+energy",
        help="paired pixel MSE to the reference, the energy distance of the sets, or both",
    )
    c.add_argument("--cfg-scale", type=FINITE, help="guidance weight (default: the recipe's)")
    c.add_argument("--weights", choices=["ema", "raw"], default="ema", help="which weights")
    c.add_argument("--device", default="auto", help=DEVICE_HELP)
    c.set_defaults(fn="cmd_calibrate")


def _add_export(sub: Any) -> None:
    x = _command(
        sub,
        "export",
        "write a checkpoint as a shareable folder (safetensors + config.json + model card)",
        "Write DIR/model.safetensors (the EMA weights, or --weights raw), DIR/config.json "
        "(recipe, kind, shape, classes, sampler defaults, the VAE of a latent model, a "
        "calibrated solver, the SHA-256 of the weights file) and DIR/README.md (a model "
        "card), never optimiser state. `load_trained(DIR)` and `energykit sample DIR` sample "
        "it exactly as the checkpoint.",
    )
    x.add_argument("checkpoint", help="checkpoint written by `energykit train` (or --reference)")
    x.add_argument("dir", metavar="DIR", help="folder to write (new, or a previous export)")
    x.add_argument(
        "--weights", choices=["ema", "raw"], default="ema", help="export the EMA or the raw weights"
    )
    x.add_argument(
        "--solver",
        metavar="SOLVER.json",
        help="embed this calibrated solver (energykit calibrate); `energykit sample DIR` uses it",
    )
    x.add_argument("--vae", metavar="NAME", help="record the VAE that decodes a latent model")
    x.add_argument(
        "--vae-scale", type=POSITIVE, help="the latents' scaling factor (--vae; default 0.18215)"
    )
    _add_reference_options(x)
    x.set_defaults(fn="cmd_export")


def _add_reference_options(s: argparse.ArgumentParser) -> None:
    """`energykit sample` / `export` options for checkpoints of the reference EqM release."""
    s.add_argument(
        "--reference",
        choices=["none", "dot", "l2"],
        help="CHECKPOINT is from the reference EqM release, with this energy head",
    )
    s.add_argument("--preset", help="reference model preset, e.g. EqM-XL/2")
    s.add_argument(
        "--num-heads", type=POSITIVE_INT, help="reference attention heads (without --preset)"
    )


def _add_progress_options(s: argparse.ArgumentParser) -> None:
    """`energykit sample --progress / --no-progress` (`args.progress`: True, False or None)."""
    s.add_argument(
        "--progress",
        action="store_const",
        const=True,
        help="a per-step progress bar (needs tqdm) (default: when stderr is a terminal and "
        "tqdm is installed)",
    )
    s.add_argument(
        "--no-progress",
        dest="progress",
        action="store_const",
        const=False,
        help="no progress bar and no per-batch lines (default: off)",
    )


def _add_latents(sub: Any) -> None:
    la = _command(sub, "latents", "encode an image folder into cached VAE latents")
    la.add_argument("images", nargs="?", help="folder with one subfolder of images per class")
    la.add_argument("--out", required=True, help="latent folder (resumes if it exists)")
    la.add_argument("--vae", help="AutoencoderKL folder or cached model id")
    la.add_argument("--image-size", type=POSITIVE_INT, default=256, help="centre crop size")
    la.add_argument("--batch", type=POSITIVE_INT, default=64, help="images per VAE pass")
    la.add_argument("--shard-size", type=POSITIVE_INT, default=10_000, help="images per shard")
    la.add_argument("--no-flip", action="store_true", help="do not encode mirrored images")
    la.add_argument("--workers", type=NONNEG_INT, default=0, help="DataLoader workers")
    la.add_argument("--device", default="auto", help=DEVICE_HELP)
    la.add_argument(
        "--dtype",
        choices=["float32", "float16", "bfloat16"],
        default="float32",
        help="VAE precision",
    )
    la.add_argument("--verify", action="store_true", help="recheck the checksums of --out")
    la.add_argument("--no-progress", action="store_true", help="no progress bar")
    la.set_defaults(fn="cmd_latents")


def _add_refbatch(sub: Any) -> None:
    rb = _command(sub, "refbatch", "centre-cropped reference images as an ADM .npz")
    rb.add_argument("images", help="folder with one subfolder of images per class")
    rb.add_argument("--out", required=True, help=".npz file")
    rb.add_argument("--image-size", type=POSITIVE_INT, default=256, help="centre crop size")
    rb.add_argument(
        "--n", type=POSITIVE_INT, help="random subset of this many images (default all)"
    )
    rb.add_argument("--seed", type=NONNEG_INT, default=0, help="seed of the subset")
    rb.set_defaults(fn="cmd_refbatch")


def _add_evaluate(sub: Any) -> None:
    e = _command(
        sub,
        "evaluate",
        "score samples against a dataset or a reference",
        "Score samples and print a table: each metric, its value, whether lower or higher "
        "is better, the set it was measured against (dataset and split, or the --ref file, "
        "and its size) and what it is. Against a dataset: images get fid_proxy (a "
        "classifier-feature Frechet distance, not Inception FID), class_entropy, sw, mmd and "
        "escaped against the train split; 2-D toys get mmd, sw, energy (and hit_rate, "
        "modes_covered) against a held-out draw. See docs/evaluate.md.",
    )
    e.add_argument("samples", help="samples file (.pt or .npz) written by `energykit sample`")
    against = e.add_mutually_exclusive_group()
    against.add_argument(
        "--data",
        choices=EVALUATE_DATA,
        help="dataset name (default: the one the samples came from)",
    )
    against.add_argument("--ref", help="reference samples file instead of a dataset")
    e.add_argument(
        "--json",
        metavar="FILE",
        help="write the metrics as JSON to FILE (the table still prints), or with '-' print "
        "the JSON instead of the table",
    )
    e.add_argument(
        "--inception",
        help="FID / precision / recall with this TorchScript feature network "
        "(inception-2015-12-05.pt; see docs) against --ref images",
    )
    e.add_argument("--pr-max", type=POSITIVE_INT, default=10_000, help="images per side for P/R")
    e.add_argument(
        "--ref-images",
        action="store_true",
        help="FID against the reference images even when --ref carries mu/sigma statistics",
    )
    e.add_argument(
        "--device", default="auto", help="device of the --inception network (auto: cuda if present)"
    )
    e.set_defaults(fn="cmd_evaluate")


def _add_plot(sub: Any) -> None:
    pl = _command(sub, "plot", "plot samples, or a 2-D checkpoint's landscape")
    pl.add_argument("source", help="samples file or checkpoint")
    pl.add_argument("--out", required=True, help="PNG file")
    pl.add_argument("--max-images", type=POSITIVE_INT, default=100, help="images in a grid at most")
    pl.set_defaults(fn="cmd_plot")

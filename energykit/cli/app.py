"""`main`: parse, run the subcommand, and turn every error into one line and an exit status."""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys
import traceback
from collections.abc import Sequence

from energykit.cli._args import one_line
from energykit.cli.parser import build_parser

#: Exceptions that mean the input was wrong (a flag, a key, a file, the machine), not a bug:
#: status 2. `ConfigError` and `UnreadableFileError` are `ValueError`s, `NonFiniteError` a
#: `FloatingPointError`, `DiskFullError` an `OSError` (its line also says what the command
#: leaves intact); `KeyError`/`TypeError` from user files are turned into `ConfigError` where
#: they arise, so those that remain here are treated as bugs (status 1).
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
        command = getattr(importlib.import_module("energykit.cli"), args.fn)
        status = int(command(args))
        ok = True
        return status
    except KeyboardInterrupt:
        print(f"energykit {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        stopped = _stopped(err, args)
        return stopped if stopped is not None else _report(err, args, debug)
    finally:
        _shutdown_process_group(wait=ok)


def _stopped(err: Exception, args: argparse.Namespace) -> int | None:
    """A training run stopped by SIGTERM/SIGINT (`TrainingStoppedError`, after saving its
    step): one line naming the checkpoint and the command that resumes it; 128 + the
    signal. `None` for any other error."""
    if type(err).__name__ != "TrainingStoppedError":  # without importing energykit.train
        return None
    from energykit.train import TrainingStoppedError

    assert isinstance(err, TrainingStoppedError)
    resume = ""
    if err.path is not None:
        recipe = getattr(args, "recipe", None) or "RECIPE"
        overrides = "".join(f" {o}" for o in getattr(args, "overrides", []))
        resume = f"; resume with `energykit train {recipe} --out {err.path.parent}{overrides}`"
    print(f"energykit {args.command}: {err}{resume}", file=sys.stderr)
    return err.exit_code


def _report(err: Exception, args: argparse.Namespace, debug: bool) -> int:
    """Print `err` as one line (after its traceback with `debug`); return the exit status."""
    command = args.command
    if debug:
        traceback.print_exception(err)
    message = one_line(str(err)) or type(err).__name__
    if isinstance(err, OSError) and err.errno == errno.ENOSPC:
        message = f"{_disk_full(err)}; {_what_remains(args)}"
    elif command == "sample":
        message = _sample_flag_named(message, args)
    if isinstance(err, USER_ERRORS):
        status = 2
    else:
        hint = "" if debug else "; run with --debug for the traceback"
        message = f"unexpected {type(err).__name__}: {message}{hint}"
        status = 1
    print(f"energykit {command}: error: {message}", file=sys.stderr)
    return status


def _sample_flag_named(message: str, args: argparse.Namespace) -> str:
    """A refusal of a `sample.KEY` value that came from the flag `--KEY` names the flag:
    `energykit sample` checks its flags as the recipe's `sample` section."""
    from energykit.cli._args import SAMPLE_FLAGS

    key = message.partition(":")[0].removeprefix("sample.")
    if not message.startswith("sample.") or key not in SAMPLE_FLAGS:
        return message
    if getattr(args, key, None) is None:
        return message  # the checkpoint's recipe holds the value, not a flag
    return f"--{key.replace('_', '-')} (sample.{key}){message[len('sample.' + key) :]}"


def _disk_full(err: OSError) -> str:
    """A full disk, naming the file (a `DiskFullError` already says it all)."""
    from energykit._io import DiskFullError

    if isinstance(err, DiskFullError):
        return str(err)
    name = f"{err.filename!r}: " if err.filename is not None else ""
    return f"{name}not written, the disk is full"


def _what_remains(args: argparse.Namespace) -> str:
    """What a command stopped by a full disk leaves intact, and how to go on."""
    if args.command == "train":
        from energykit.train.checkpoint import intact_checkpoints  # torch: only on errors

        found = intact_checkpoints(args.out)
        if not found:
            return f"no intact checkpoint in {args.out!r}; free space and rerun the command"
        names = ", ".join(f"{path.name} (step {step})" for step, path in found[:3])
        more = f" and {len(found) - 3} more" if len(found) > 3 else ""
        return (
            f"intact checkpoints in {args.out!r}: {names}{more}; free space and rerun the "
            "same command to resume"
        )
    if args.command == "sample":
        from energykit.sampling.parts import finished_parts, parts_folder

        parts, done = parts_folder(args.out), len(finished_parts(args.out))
        if not done:
            return "no batch was finished; free space and rerun the command"
        return (
            f"the {done} finished batch(es) in {str(parts)!r} are kept; free space and rerun "
            "the same command to resume from them"
        )
    return "free space and rerun the command"


def _shutdown_process_group(wait: bool) -> None:
    """Under torchrun: tear the process group down before the interpreter exits (a live gloo
    group at exit can abort a rank whose peers are still finishing). After a success every
    rank first waits for the others; after an error it does not (peers may be elsewhere)."""
    import torch.distributed as dist

    from energykit._distributed import shutdown

    if dist.is_available() and dist.is_initialized():
        try:
            if wait:
                dist.barrier()
        finally:
            shutdown()

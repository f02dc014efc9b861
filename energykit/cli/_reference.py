"""Checkpoints of the reference EqM release given where a checkpoint of `energykit train` or
a samples file is expected: refused with one line that says what the file is and names the
flag that loads it (`energykit sample --reference HEAD`)."""

from __future__ import annotations

from typing import Any

import torch

from energykit.train import ConfigError, TrainedModel, load_trained

#: What the placeholder `HEAD` stands for when the file does not record its head.
_HEAD = " (HEAD: its energy head, none, dot or l2)"


def refuse_reference(
    path: str, what: str, remedy: str, expected: str = "one of `energykit train`"
) -> None:
    """Raise a `ConfigError` when `path` is a checkpoint of the reference EqM release.

    Args:
        path: The file given.
        what: What it was given as, e.g. `"checkpoint"` or `"--ref"`, to start the line.
        remedy: What to do, a template: `{flags}` becomes the `energykit sample` flags that
            load it (`--reference HEAD [--preset P]`), `{recorded}` what its args record
            of them, `{sample}` the whole command that samples it into `SAMPLES.pt`.
        expected: What was expected instead.
    """
    from energykit.interop.identify import identify_reference_checkpoint

    found = identify_reference_checkpoint(path)
    if found is None:
        return
    flags = f"--reference {found.head or 'HEAD'}"
    flags += f" --preset {found.preset}" if found.preset else ""
    recorded = f" (its args record ebm={found.head!r})" if found.head else ""
    text = remedy.format(
        flags=flags, recorded=recorded, sample=f"`energykit sample {path} {flags} --out SAMPLES.pt`"
    )
    raise ConfigError(
        f"{what} {path!r}: a checkpoint of the reference EqM release, not {expected}; {text}"
        + ("" if found.head else _HEAD)
    )


def load_ours(path: str, device: torch.device | str, weights: Any, command: str) -> TrainedModel:
    """`load_trained(path)` (a checkpoint or an exported folder); a reference checkpoint is
    refused naming the flag that loads it: `--reference` of `energykit sample` or `export`
    (`command`), or of `energykit sample` for a command that lacks it.

    Raises:
        ConfigError: `path` is a checkpoint of the reference EqM release.
        FileNotFoundError, ValueError: what `load_trained` raises for other files.
    """
    try:
        return load_trained(path, device=device, weights=weights)
    except ValueError:
        remedy = (
            "pass {flags}{recorded}"
            if command in ("sample", "export")
            else f"`energykit {command}` reads checkpoints of `energykit train` only; sample it "
            "with {sample}"
        )
        refuse_reference(path, "checkpoint", remedy)
        raise

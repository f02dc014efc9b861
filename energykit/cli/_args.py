"""What the parser needs, importable without torch so that `energykit --help` answers before
torch loads: argparse types that name the flag's expectation, `one_line`, and the names the
flags choose from (`tests/test_cli_fast.py` checks each list against the registry it mirrors).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any


def one_line(text: str) -> str:
    """`text` with its lines joined by spaces."""
    return " ".join(line.strip() for line in text.strip().splitlines() if line.strip())


def number(cast: Callable[[str], Any], low: float, strict: bool) -> Callable[[str], Any]:
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


POSITIVE_INT = number(int, 0, strict=True)
NONNEG_INT = number(int, 0, strict=False)
POSITIVE = number(float, 0.0, strict=True)
NONNEG = number(float, 0.0, strict=False)
FINITE = number(float, -math.inf, strict=True)


#: Datasets whose held-out split `energykit evaluate --data` scores against (mirrors
#: `energykit.data.registry.DATASETS` entries with `named_heldout`).
EVALUATE_DATA = ("digits", "mnist", "8gaussians", "moons", "checkerboard", "spirals", "rings")

#: The flow-matching ODE methods (mirrors `energykit.sampling.ODE_METHODS`).
ODE_METHOD_NAMES = ("euler", "heun", "ab2")

#: `energykit sample` flags that replace a field of the recipe's `sample` section.
SAMPLE_FLAGS = (
    "sampler",
    "lr",
    "lr_scale",
    "momentum",
    "steps",
    "g_min",
    "n",
    "seed",
    "batch",
    "cfg_scale",
    "cfg_channels",
    "nonfinite",
    "dtype",
    "compile",
    "solver",
)


__all__ = [
    "EVALUATE_DATA",
    "FINITE",
    "NONNEG",
    "NONNEG_INT",
    "ODE_METHOD_NAMES",
    "POSITIVE",
    "POSITIVE_INT",
    "SAMPLE_FLAGS",
    "number",
    "one_line",
]

"""`Solver`: a few-evaluation sampler as data, per-step coefficients of `Multistep`.

A solver with $K$ steps holds, for each step $k$, the step size $\\eta_k$, the look-ahead
$\\mu_k$ and the history weights $w_{k,\\cdot}$ of

$$p_k = x_k + \\mu_k (x_k - x_{k-1}), \\qquad x_{k+1} = x_k - \\eta_k \\sum_j w_{k,j}\\,
\\nabla E(p_{k-j}),$$

one field evaluation per step, so $K$ steps cost exactly $K$ evaluations per sample. It is
what `energykit calibrate` fits (`energykit.descent.calibrate`) and what the training-free
default for a budget returns (`energykit.descent.fewstep`); `solver.descender(field)` runs it.

A solver file (`save` / `load`) is JSON and is bound to the model it was fitted for, as a
scheduler config travels with its pipeline: `model` records what the caller says identifies it
(for `energykit calibrate`: the digest of the sampled weights, kind, shape, classes and
guidance scale), and `check_model` refuses another model with one line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from energykit._io import atomic_write
from energykit.descent.descender import Descender
from energykit.descent.multistep import Multistep, adams_bashforth, check_weights
from energykit.descent.schedule import check_per_step
from energykit.fields.base import EnergyField

#: The `format` tag of solver files.
SOLVER_FORMAT = "energykit-solver/1"


#: The keys `check_model` compares first (identity before weights before guidance).
BINDING_ORDER = (
    "kind",
    "dataset",
    "shape",
    "num_classes",
    "weights",
    "weights_sha256",
    "cfg_scale",
)


class SolverFileError(ValueError):
    """A solver file that cannot be used: unreadable, malformed, or bound to another model."""


@dataclass(frozen=True)
class Solver:
    """Per-step coefficients of a $K$-step multistep descent.

    Attributes:
        lr: Step sizes $\\eta_k$, `K` values $\\ge 0$.
        momentum: Look-aheads $\\mu_k$, `K` values $\\ge 0$.
        weights: History weights, `K` rows, row $k$ newest gradient first (at most $k + 1$
            entries are used).
        model: What identifies the model it was fitted for (JSON values), or empty for a
            solver that is not bound (a training-free default).
        fit: How it was obtained (loss, seeds, iterations, seconds; JSON values).
    """

    lr: tuple[float, ...]
    momentum: tuple[float, ...]
    weights: tuple[tuple[float, ...], ...]
    model: Mapping[str, Any] = field(default_factory=dict)
    fit: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        lr = check_per_step("Solver lr", list(self.lr), None)
        k = len(lr)
        momentum = check_per_step("Solver momentum", list(self.momentum), k)
        weights = check_weights(self.weights)
        if len(weights) != k:
            raise ValueError(
                f"Solver weights: expected {k} rows (one per step), got {len(weights)}"
            )
        object.__setattr__(self, "lr", tuple(lr))
        object.__setattr__(self, "momentum", tuple(momentum))
        object.__setattr__(self, "weights", tuple(tuple(row) for row in weights))
        object.__setattr__(self, "model", dict(self.model))
        object.__setattr__(self, "fit", dict(self.fit))

    @property
    def steps(self) -> int:
        """$K$: steps, and field evaluations per sample."""
        return len(self.lr)

    @property
    def history(self) -> int:
        """The longest history a step uses."""
        return max(min(len(row), k + 1) for k, row in enumerate(self.weights))

    def descender(self, field: EnergyField, **kwargs: Any) -> Descender:
        """A `Descender` that runs this solver on `field` (`Multistep` with these coefficients).

        Args:
            field: The landscape.
            **kwargs: Passed to `Descender` (`g_min`, `nonfinite`, `record`, ...), except
                `optimizer`, `lr`, `steps` and `momentum`, which the solver fixes.

        Raises:
            TypeError: a keyword the solver fixes.
        """
        fixed = sorted({"optimizer", "lr", "steps", "momentum", "weights", "order"} & set(kwargs))
        if fixed:
            raise TypeError(f"Solver.descender: {fixed[0]!r} is fixed by the solver")
        return Descender(
            field,
            Multistep,
            lr=list(self.lr),
            momentum=list(self.momentum),
            weights=[list(row) for row in self.weights],
            **kwargs,
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form (what `save` writes)."""
        return {
            "format": SOLVER_FORMAT,
            "steps": self.steps,
            "lr": list(self.lr),
            "momentum": list(self.momentum),
            "weights": [list(row) for row in self.weights],
            "model": dict(self.model),
            "fit": dict(self.fit),
        }

    @classmethod
    def from_dict(cls, raw: object, where: str = "solver") -> Solver:
        """Rebuild and validate a solver from `to_dict`'s form.

        Raises:
            SolverFileError: a wrong format tag, missing or unknown keys, `steps` that does not
                match, or coefficients out of range (one line, naming `where`).
        """
        if not isinstance(raw, dict):
            raise SolverFileError(f"{where}: expected a JSON object, got {type(raw).__name__}")
        if raw.get("format") != SOLVER_FORMAT:
            raise SolverFileError(
                f"{where}: expected format {SOLVER_FORMAT!r}, got {raw.get('format')!r}"
            )
        keys = {"format", "steps", "lr", "momentum", "weights", "model", "fit"}
        if set(raw) != keys:
            missing, extra = sorted(keys - set(raw)), sorted(set(raw) - keys)
            what = f"missing {missing}" if missing else f"unknown keys {extra}"
            raise SolverFileError(f"{where}: {what}")
        if not isinstance(raw["model"], dict) or not isinstance(raw["fit"], dict):
            raise SolverFileError(f"{where}: 'model' and 'fit' must be JSON objects")
        try:
            solver = cls(raw["lr"], raw["momentum"], raw["weights"], raw["model"], raw["fit"])
        except (TypeError, ValueError) as err:
            raise SolverFileError(f"{where}: {err}") from None
        if raw["steps"] != solver.steps:
            raise SolverFileError(
                f"{where}: 'steps' is {raw['steps']!r} but the coefficients have {solver.steps}"
            )
        return solver

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the solver as JSON, atomically (a temporary file renamed into place)."""
        text = json.dumps(self.to_dict(), indent=1, allow_nan=False) + "\n"
        return atomic_write(Path(path), lambda f: f.write(text.encode()))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Solver:
        """Read and validate a solver file.

        Raises:
            FileNotFoundError: no such file.
            SolverFileError: not JSON, or not a valid solver (see `from_dict`).
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"solver file {str(path)!r} does not exist")
        try:
            raw = json.loads(path.read_text(), parse_constant=_no_constant)
        except (ValueError, UnicodeDecodeError) as err:
            raise SolverFileError(f"solver file {str(path)!r}: not valid JSON ({err})") from None
        return cls.from_dict(raw, f"solver file {str(path)!r}")

    def check_model(
        self, model: Mapping[str, Any], *, force: bool = False, where: str = "solver"
    ) -> None:
        """Require the model this solver was fitted for to be `model`: every key the solver
        records must match (a solver that records none is not bound to a model).

        Args:
            model: What identifies the model about to be sampled (`TrainedModel.binding`).
            force: Allow another model of the same kind, shape and classes (e.g. another
                training seed of one recipe): only `weights_sha256` and `guidance` may differ.
            where: How to name the solver in the error.

        Raises:
            SolverFileError: a key differs (the message names the first one and both values).
        """
        loose = {"weights_sha256", "cfg_scale"} if force else set()
        order = {key: i for i, key in enumerate(BINDING_ORDER)}
        for key in sorted(self.model, key=lambda k: (order.get(k, len(order)), k)):
            if key in loose:
                continue
            mine, theirs = self.model[key], model.get(key)
            if mine != theirs:
                hint = (
                    "; --force uses it anyway with another model of the same kind and shape"
                    if key in ("weights_sha256", "cfg_scale") and not force
                    else ""
                )
                raise SolverFileError(
                    f"{where}: fitted for a model with {key} {_short(mine)}, this model has "
                    f"{_short(theirs)}{hint}"
                )


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 24 else text[:20] + "..."


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a finite number")


def multistep_solver(
    lr: Sequence[float], momentum: Sequence[float] | float = 0.0, order: int = 1
) -> Solver:
    """An unbound solver: a step-size table, a look-ahead (a number or a table) and the
    Adams-Bashforth weights of `order` (1: gradient descent, or NAG-GD with a look-ahead)."""
    k = len(lr)
    mus = [momentum] * k if isinstance(momentum, (int, float)) else list(momentum)
    return Solver(tuple(lr), tuple(mus), tuple(map(tuple, adams_bashforth(k, order))))


__all__ = ["SOLVER_FORMAT", "Solver", "SolverFileError", "multistep_solver"]

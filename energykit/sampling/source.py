"""What sampling needs of a trained model (`SampleSource`), the seed of each batch, and the
calibrated solver a `SampleConfig` names, checked against its model."""

from __future__ import annotations

from typing import Any, Protocol

from energykit.descent import Solver
from energykit.descent.fewstep import Landscape
from energykit.sampling.config import SampleConfig
from energykit.sampling.generate import Sampleable

#: Batch `j` is drawn with seed `sample.seed + BATCH_SEED_STRIDE * j`.
BATCH_SEED_STRIDE = 1_000_003


class SampleSource(Protocol):
    """What `sample_to_file` needs of a trained model (`energykit.train.TrainedModel` is one).

    Attributes:
        shape: Shape of one sample.
        num_classes: Classes for conditioning, or `None`.
        step: Training steps taken (recorded, and part of the resume guard).
        kind: Objective kind (recorded).
        dataset: The dataset it was trained on (recorded).
        landscape: Its $c(\\gamma)$, for the few-step default sampler (or `None`).
        binding: What a calibrated solver records of it (`Solver.check_model`).
    """

    @property
    def shape(self) -> tuple[int, ...]: ...

    @property
    def num_classes(self) -> int | None: ...

    @property
    def step(self) -> int: ...

    @property
    def kind(self) -> str: ...

    @property
    def dataset(self) -> str: ...

    @property
    def landscape(self) -> Landscape | None: ...

    def binding(self, cfg_scale: float = 1.0) -> dict[str, Any]: ...

    def sampleable(self) -> Sampleable:
        """The field (EqM) or velocity (flow matching) to sample."""
        ...


def solver_for(model: SampleSource, cfg: SampleConfig, *, force: bool = False) -> Solver | None:
    """The calibrated solver `cfg.solver` names, checked against `model` (`None` without one).

    Raises:
        FileNotFoundError, SolverFileError: see `Solver.load` and `Solver.check_model`.
    """
    if cfg.solver is None:
        return None
    solver = Solver.load(cfg.solver)
    solver.check_model(
        model.binding(cfg.cfg_scale), force=force, where=f"solver file {cfg.solver!r}"
    )
    return solver


__all__ = ["BATCH_SEED_STRIDE", "SampleSource", "solver_for"]

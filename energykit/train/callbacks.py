"""Callbacks: code of the user's own that a `Trainer` runs between steps, given explicit data
(the step, the logged metrics, an EMA model view, the run folder), never the Trainer.

```python
class PrintLoss(Callback):
    def on_log(self, step, metrics, out):
        print(step, metrics["loss"])

Trainer(cfg, "runs/x", callbacks=[SampleEvaluation.for_run(cfg, data), PrintLoss()])
```

Hooks (each optional; `Callback` gives no-op defaults):

- `on_log(step, metrics, out)`: every `train.log_every` steps, with the step's numbers
  (`loss`, `grad_norm`, `it_per_s`, `elapsed_s`) as floats, read back once for every hook;
- `on_eval(step, model, out) -> dict | None`: every `train.eval_every` steps and at the end,
  with the EMA model as a `TrainedModel` (it shares the trainer's weights: do not train it);
  the returned numbers of all callbacks go to the log as one `{"step", "eval"}` record;
- `on_scores(step, scores, out)`: right after, with those merged numbers (trackers);
- `on_samples(step, model, out)`: every `train.sample_every` steps, with the EMA model
  (sample grids: `energykit.train.grid.SampleGrid`);
- `on_checkpoint(step, path)`: after a checkpoint was written, with its path;
- `on_end(step, history, out)`: when `fit` returns or stops (also on an error or a stop
  signal), with the log records of this call.

They run on rank 0 only, unless the callback sets `all_ranks = True`, outside the step, so
they add no host sync to the steps in between. Passing `callbacks` replaces the default,
which is `SampleEvaluation` when `train.eval_every > 0` (and nothing otherwise).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from energykit.sampling import SampleConfig
from energykit.train.config import TrainConfig
from energykit.train.data import DataSource
from energykit.train.scoring import score_samples
from energykit.train.trained import TrainedModel

#: The hooks a `Trainer` calls, in the order of a run.
HOOKS = ("on_start", "on_log", "on_eval", "on_scores", "on_samples", "on_checkpoint", "on_end")


class Callback:
    """Base class of callbacks: every hook is a no-op; override the ones you need."""

    #: Run on every rank under torchrun (default: rank 0 only).
    all_ranks: bool = False

    def on_start(self, step: int, out: Path | None) -> None:
        """When `fit` starts (after a resume: at the resumed step)."""

    def on_log(self, step: int, metrics: dict[str, float], out: Path | None) -> None:
        """After a logged step: its metrics as floats."""

    def on_eval(self, step: int, model: TrainedModel, out: Path | None) -> dict[str, Any] | None:
        """At an evaluation step: numbers to log under `"eval"`, or `None`."""
        return None

    def on_scores(self, step: int, scores: dict[str, Any], out: Path | None) -> None:
        """After an evaluation: the numbers of every `on_eval`, merged (as logged)."""

    def on_samples(self, step: int, model: TrainedModel, out: Path | None) -> None:
        """Every `train.sample_every` steps: draw from the EMA model (sample grids)."""

    def on_checkpoint(self, step: int, path: Path) -> None:
        """After the checkpoint `path` was written."""

    def on_end(self, step: int, history: list[dict[str, Any]], out: Path | None) -> None:
        """When `fit` returns or stops."""


def implements(callback: object, hook: str) -> bool:
    """Whether `callback` has `hook` of its own (not `Callback`'s no-op)."""
    method = getattr(type(callback), hook, None)
    return callable(method) and method is not getattr(Callback, hook)


class CallbackList:
    """The callbacks of a run as this rank runs them (rank 0 all; other ranks those with
    `all_ranks`); hooks a callback lacks are skipped."""

    def __init__(self, callbacks: Sequence[object], *, is_main: bool) -> None:
        self.callbacks = list(callbacks)
        self._here = [cb for cb in self.callbacks if is_main or getattr(cb, "all_ranks", False)]

    @property
    def evaluates(self) -> bool:
        """Whether any callback (on any rank) has an `on_eval` of its own."""
        return any(implements(cb, "on_eval") for cb in self.callbacks)

    def call(self, hook: str, *args: Any) -> None:
        """Run `hook(*args)` of every callback here that has it."""
        for cb in self._here:
            method = getattr(cb, hook, None)
            if callable(method):
                method(*args)

    def evaluate(
        self, step: int, model: Callable[[], TrainedModel], out: Path | None
    ) -> dict[str, Any]:
        """The merged numbers of every `on_eval` here, then given to every `on_scores`
        (`model` is built only when an `on_eval` exists)."""
        scores: dict[str, Any] = {}
        for result in self.with_model("on_eval", step, model, out):
            scores.update(result or {})
        if scores:
            self.call("on_scores", step, scores, out)
        return scores

    def with_model(
        self, hook: str, step: int, model: Callable[[], TrainedModel], out: Path | None
    ) -> list[Any]:
        """What `hook(step, model, out)` of every callback here that has it returns (`model`
        is built once, and only when one exists)."""
        hooks = [cb for cb in self._here if implements(cb, hook)]
        view = model() if hooks else None
        return [getattr(cb, hook)(step, view, out) for cb in hooks]


@dataclass
class SampleEvaluation(Callback):
    """The default evaluation: up to `limit` samples from the EMA model with the recipe's
    sampler, scored against the data's held-out split (`energykit.train.scoring`). A
    calibrated `sample.solver` is fitted for the finished weights, so evaluation during
    training samples with the recipe's sampler instead.

    Attributes:
        data: The run's data (its held-out split is the reference).
        sample: The sampler settings (`config.sample`).
        device: Where to sample.
        limit: At most this many samples (`sample.n` when smaller).
    """

    data: DataSource
    sample: SampleConfig
    device: torch.device
    limit: int = 500

    @classmethod
    def for_run(
        cls, config: TrainConfig, data: DataSource, device: str | torch.device = "cpu"
    ) -> SampleEvaluation:
        """The default evaluation of a run of `config` on `data`."""
        return cls(data, config.sample, torch.device(device))

    def on_eval(self, step: int, model: TrainedModel, out: Path | None) -> dict[str, Any]:
        from energykit.sampling import generate

        s = generate(
            model.sampleable(),
            self.data.shape,
            dataclasses.replace(self.sample, solver=None),
            landscape=model.landscape,
            num_classes=model.num_classes,
            device=self.device,
            n=min(self.sample.n, self.limit),
        )
        try:
            scores = score_samples(s.x, self.data)
        except FloatingPointError as err:
            scores = {"diverged": str(err)}
        return {**scores, "nfe_per_sample": s.nfe_mean}


__all__ = ["HOOKS", "Callback", "CallbackList", "SampleEvaluation", "implements"]

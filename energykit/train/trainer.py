"""The training loop: composes the parts (`Parallel`, `TrainState`, `train_step`, the guard,
checkpoints, callbacks) and owns the cadences, the log and the stop signals."""

from __future__ import annotations

import copy
import signal
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import Tensor, nn
from torch.utils.data import Dataset

from energykit._distributed import barrier
from energykit._io import UnreadableFileError, remove_stale_temps
from energykit.train.build import build_net, training_optimizer
from energykit.train.callbacks import CallbackList
from energykit.train.checkpoint import (
    CHECKPOINT_FORMAT,
    load_checkpoint,
    write_checkpoint,
)
from energykit.train.config import TrainConfig
from energykit.train.data import DataSource
from energykit.train.ema import EMA
from energykit.train.guard import DivergenceGuard, refuse_nonfinite_state
from energykit.train.log import Progress, open_log, scalar, write_record
from energykit.train.parallel import Parallel
from energykit.train.resume import check_resumable, check_steps_left, resume_hint, resume_source
from energykit.train.run_callbacks import callbacks_for
from energykit.train.setup import check_net_output, prefetch_enabled, resolve_run
from energykit.train.state import TrainState
from energykit.train.step import MicroLoss, train_step
from energykit.train.stop import StopRequests, TrainingStoppedError, stop_agreed
from energykit.train.trained import TrainedModel


class Trainer:
    """Train the model a `TrainConfig` describes.

    ```python
    cfg = load_config("recipes/digits/eqm.yaml", ["train.steps=500"])
    trainer = Trainer(cfg, out="runs/digits-eqm")
    trainer.fit()          # resumes from runs/digits-eqm/last.pt when it exists
    ```

    The parts: `Parallel` (devices, DDP/FSDP2), `TrainState` (model, EMA, optimiser,
    generators, step: a checkpoint holds it, so a resume is bit-exact on CPU), `train_step`,
    the divergence guard (nothing non-finite is applied or saved), `energykit.train.resume`,
    callbacks (`run_callbacks`), and clean stops on SIGTERM/SIGINT (`energykit.train.stop`).

    Args:
        config: What to train (its `net` / `data` sections are replaced by `net` / `data`,
            and recorded as `custom`: `energykit.train.setup`).
        out: Run directory for `last.pt`, `log.jsonl` and `config.json`; `None` keeps
            everything in memory (no checkpoints).
        net: A backbone of your own, `(B, *shape) -> (B, *shape)` (plus `t` for `fm`, and
            `y=labels` when class-conditional); trained in place, moved to `train.device`,
            and checked once with a forward pass on one sample.
        data: Data of your own: a floating-point tensor `(N, *shape)`, a torch `Dataset` of
            `x` or `(x, y)` items, or a `DataSource` (`energykit.train.own_data`).
        callbacks: Hooks run between steps (`energykit.train.callbacks`); `None`: the default
            `SampleEvaluation` when `train.eval_every > 0`. A sequence replaces it; the
            trackers and sample grids the config asks for run either way.
        progress: Show progress on stderr: a tqdm bar on a terminal, one line per logged
            step in a pipe or a batch job's log (`energykit.train.log.Progress`).
        resume: `True`: continue from `out/last.pt` when it exists; `False`: start afresh
            (overwriting the run's checkpoints); a path: continue from that checkpoint.
    """

    def __init__(
        self,
        config: TrainConfig,
        out: str | Path | None = None,
        *,
        net: nn.Module | None = None,
        data: Tensor | Dataset[Any] | DataSource | None = None,
        callbacks: Sequence[object] | None = None,
        progress: bool = True,
        resume: bool | str | Path = True,
    ) -> None:
        self.out = None if out is None else Path(out)
        self.progress = progress
        self.config, self.data, model = resolve_run(config, net, data)
        t = self.config.train
        self.parallel = p = Parallel.create(t)
        model = model.to(p.device)
        if net is not None:
            check_net_output(model, self.config, self.data, p.device)
        callbacks = callbacks_for(self.config, self.data, p.device, callbacks)
        self.callbacks = CallbackList(callbacks, is_main=p.dist.is_main)
        ema = EMA(model, t.ema_decay, warmup=t.ema_warmup)
        #: An unsharded CPU copy of a user's net under FSDP, to gather the EMA into.
        self._template = copy.deepcopy(model).cpu() if net is not None and p.sharded else None
        self.wrapped = p.wrap(model, ema.model, evaluates=self.callbacks.evaluates)
        optimizer = training_optimizer(model, self.config.optim, p.device, sharded=p.sharded)
        prefetch = prefetch_enabled(t.prefetch, p.device, self.data)
        self.state = TrainState.create(
            model, ema, optimizer, self.data, p, seed=t.seed, prefetch=prefetch
        )
        #: The loss of one micro-batch (`energykit.train.step.MicroLoss`).
        self.loss_fn = MicroLoss.create(
            self.config, p.compiled(self.wrapped), self.state, self.num_classes, p
        )
        self.guard = DivergenceGuard(p.device)
        self.history: list[dict[str, Any]] = []
        #: Step of the newest checkpoint this run wrote or resumed from.
        self.saved_step: int | None = None
        self._start(resume)

    # -- set-up and views -----------------------------------------------------------------
    def _start(self, resume: bool | str | Path) -> None:
        """Clean stale temporary files, then resume from `resume` when it names a checkpoint."""
        if self.out is not None and self.parallel.dist.is_main:
            # Left by a process killed while saving a checkpoint; nothing else is touched.
            remove_stale_temps(self.out, r"last\.pt|step_\d+\.pt")
        source = resume_source(resume, self.out)
        if source is not None:
            try:
                self.load(source)
            except UnreadableFileError as err:
                raise UnreadableFileError(f"{err}; {resume_hint(source, self.out)}") from None
        check_steps_left(self.step, self.config.train.steps, source)

    @property
    def step(self) -> int:
        """Optimiser steps taken."""
        return self.state.step

    @property
    def num_classes(self) -> int | None:
        """Classes fed to the net, or `None` for an unconditional model."""
        return self.data.num_classes if self.config.data.class_conditional else None

    @property
    def n_parameters(self) -> int:
        """Trainable parameters of the backbone."""
        return sum(p.numel() for p in self.state.model.parameters())

    def trained(self) -> TrainedModel:
        """The EMA model as a `TrainedModel` (shares weights with the trainer; under FSDP a
        gathered copy, and every rank must call it)."""
        net, cfg = self.state.ema.model, self.config
        if self.parallel.sharded:
            blank = copy.deepcopy(self._template) if self._template is not None else None
            if blank is None:
                blank = build_net(cfg.net, cfg.objective, self.data.shape, self.num_classes)
            net = self.parallel.gathered(self.state.ema.model, blank)
        kind, shape = cfg.objective.kind, self.data.shape
        return TrainedModel(net, kind, shape, self.num_classes, cfg, self.step)

    # -- checkpoints ----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly (a collective under torchrun)."""
        return {
            "format": CHECKPOINT_FORMAT,
            "config": self.config.to_dict(),
            "shape": list(self.data.shape),
            "num_classes": self.num_classes,
            **self.state.state_dict(self.parallel),
        }

    def save(self, path: str | Path | None = None) -> Path:
        """Write a checkpoint atomically, with its digest (default `out/last.pt`). Under
        torchrun every rank must call it (the RNG states are gathered); rank 0 writes.

        Raises:
            NonFiniteError: a step was non-finite, or a weight, EMA or optimiser value is;
                nothing is written and the previous checkpoint stays as it was.
        """
        if path is None and self.out is None:
            raise ValueError("Trainer.save: no path given and the trainer has no out dir")
        path = Path(path) if path is not None else Path(self.out or "") / "last.pt"
        self.guard.raise_if_tripped(self.saved_step)
        payload, dist = self.state_dict(), self.parallel.dist
        trained = {k: payload[k] for k in ("model", "ema", "optimizer")}
        refuse_nonfinite_state(trained, path, self.step, self.saved_step, dist)
        if dist.is_main:  # scanned above: every float of the state is in those three
            write_checkpoint(payload, path)
        barrier(dist)
        if path.name == "last.pt" or self.saved_step is None:
            self.saved_step = self.step
        self.callbacks.call("on_checkpoint", self.step, path)
        return path

    def load(self, path: str | Path) -> None:
        """Restore a checkpoint written by `save` (checked by `resume.check_resumable`)."""
        payload = load_checkpoint(path, self.parallel.device)
        data = (tuple(self.data.shape), self.num_classes)
        model = None if self.parallel.sharded else self.state.model
        check_resumable(payload, self.config, self.parallel, data, path, model)
        self.state.load_state_dict(payload, self.parallel)
        self.saved_step = self.step

    # -- the loop -------------------------------------------------------------------------
    def train_step(self) -> dict[str, Tensor]:
        """One optimiser step (`energykit.train.step.train_step`): 0-d device tensors, the
        mean `loss` and (on logged steps, or when clipping) `grad_norm`; no host sync."""
        t, o = self.config.train, self.config.optim
        logged = bool(t.log_every) and (self.step + 1) % t.log_every == 0
        return train_step(
            self.state,
            self.loss_fn,
            self.guard,
            self.parallel,
            self.wrapped,
            grad_accum=t.grad_accum,
            grad_clip=o.grad_clip,
            logged=logged,
        )

    def fit(self, until: int | None = None) -> list[dict[str, Any]]:
        """Train up to step `until` (default `train.steps`); returns the log records.
        Checkpoints: `out/last.pt` every `train.ckpt_every` steps and at the end, and
        `out/step_*.pt` every `train.keep_every`.

        Raises:
            NonFiniteError: a step was non-finite (the last checkpoint stays as it was).
            TrainingStoppedError: on SIGTERM or SIGINT, after finishing and saving the step.
        """
        until = self.config.train.steps if until is None else until
        if until < self.step:
            raise ValueError(
                f"Trainer.fit until: expected at least the current step {self.step}, got {until}"
            )
        main = self.parallel.dist.is_main
        log = open_log(self.out, self.config.to_dict(), self.step) if self.out and main else None
        bar = Progress(self.progress and main, initial=self.step, total=until)
        first = len(self.history)
        self.callbacks.call("on_start", self.step, self.out)
        try:
            if log is not None:
                write_record(
                    log, {"event": "start", "step": self.step, "params": self.n_parameters}
                )
            with StopRequests() as stop:
                self._loop(until, log, bar, stop)
            self.guard.raise_if_tripped(self.saved_step)
            if not self._cadence(self.config.train.eval_every):
                self._evaluate(log)
            if self.out is not None:
                self.save()
        finally:
            bar.close()
            if log is not None:
                log.close()
            self.callbacks.call("on_end", self.step, self.history[first:], self.out)
        return self.history

    def _cadence(self, every: int) -> bool:
        return bool(every) and self.step % every == 0

    def _loop(self, until: int, log: Any, bar: Progress, stop: StopRequests) -> None:
        """Steps up to `until`, each followed by its log record, evaluation, sample grids and
        checkpoints at their cadences; the loss is read back only on log steps."""
        t = self.config.train
        start, start_step = time.perf_counter(), self.step
        while self.step < until:
            stats = self.train_step()
            bar.update(stats["loss"])
            if self._cadence(t.log_every):
                elapsed = time.perf_counter() - start
                values = {k: scalar(v) for k, v in stats.items()}
                rate = (self.step - start_step) / max(elapsed, 1e-9)
                metrics = {**values, "it_per_s": rate, "elapsed_s": elapsed}
                self._record(log, {"step": self.step, **metrics})
                self.guard.raise_if_tripped(self.saved_step)  # the host waits here anyway
                self.callbacks.call("on_log", self.step, metrics, self.out)
                bar.show(self.step, metrics)
            if self._cadence(t.eval_every):
                self._evaluate(log)
            if self._cadence(t.sample_every):
                self.callbacks.with_model("on_samples", self.step, self.trained, self.out)
            if self.out is not None and self._cadence(t.ckpt_every):
                self.save()
            if self.out is not None and self._cadence(t.keep_every):
                self.save(self.out / f"step_{self.step:07d}.pt")
            sync = self._cadence(t.log_every) or self._cadence(t.ckpt_every)
            if stop_agreed(stop, self.parallel.dist, synchronising=sync):
                self._stop(stop.signum or signal.SIGTERM)

    def _stop(self, signum: int) -> None:
        if self.out is not None and not self._cadence(self.config.train.ckpt_every):
            self.save()  # (at a checkpoint step the loop has just written last.pt)
        path = None if self.out is None else self.out / "last.pt"
        raise TrainingStoppedError(signum, self.step, path)

    def _record(self, log: Any, record: dict[str, Any]) -> None:
        self.history.append(record)
        if log is not None:
            write_record(log, record)

    def _evaluate(self, log: Any) -> None:
        """Run the callbacks' `on_eval` on the EMA model; log what they return."""
        self.guard.raise_if_tripped(self.saved_step)
        scores = self.callbacks.evaluate(self.step, self.trained, self.out)
        if scores and self.parallel.dist.is_main:
            self._record(log, {"step": self.step, "eval": scores})

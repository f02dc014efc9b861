"""The training loop: EMA, atomic checksummed checkpoints, exact resume, divergence guard,
JSONL logs, progress."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from energykit._distributed import DistInfo
from energykit._io import remove_stale_temps
from energykit.objectives import objective_kind
from energykit.train.build import DataSource, build_net, build_objective
from energykit.train.checkpoint import TrainedModel
from energykit.train.config import TrainConfig
from energykit.train.ema import EMA
from energykit.train.guard import DivergenceGuard
from energykit.train.log import progress_bar, write_record
from energykit.train.parallel import compile_backbone, init_devices, wrap_parallel
from energykit.train.prefetch import BatchPrefetcher
from energykit.train.resume import trim_log
from energykit.train.setup import check_net_output, prefetch_enabled, resolve_run
from energykit.train.state import (
    build_optimizer,
    restore_trainer,
    resume_from,
    save_trainer,
    trainer_state,
)
from energykit.train.step import micro_loss, take_step

#: Seeds of rank r are the single-process seeds plus r times this.
RANK_SEED_STRIDE = 1_000_003


class Trainer:
    """Train the model a `TrainConfig` describes.

    ```python
    cfg = load_config("recipes/digits/eqm.yaml", ["train.steps=500"])
    trainer = Trainer(cfg, out="runs/digits-eqm")
    trainer.fit()          # resumes from runs/digits-eqm/last.pt when it exists
    ```

    Each step draws a batch (with replacement) from a CPU generator, draws levels and noise
    from a second generator on the training device, and takes one optimiser step; the EMA is
    updated after it. Both generators, the torch RNG, model, EMA and optimiser are in every
    checkpoint, so stopping at step k and resuming gives the same weights, bit for bit, as
    an uninterrupted run (on CPU; GPU kernels may be non-deterministic). A resume refuses a
    config that would change the trajectory (`energykit.train.resume`).

    A step whose loss or gradients are NaN/inf is never applied (`energykit.train.guard`,
    checked on the device); the next log, evaluation or checkpoint step raises
    `NonFiniteError` and nothing non-finite is ever saved.

    Networks and data of your own (see the docs page "Train your own network") get the same
    EMA, checkpoints, exact resume, divergence guard, bf16 and DDP/FSDP2; the config then
    records `net.kind: custom` / `data.name: custom` (`energykit.train.setup`), and
    `load_trained(path, net=module)` loads the run.

    Args:
        config: What to train (its `net` / `data` sections are replaced by `net` / `data`).
        out: Run directory for `last.pt`, `log.jsonl` and `config.json`; `None` keeps
            everything in memory (no checkpoints).
        net: A backbone of your own, `(B, *shape) -> (B, *shape)` (plus `t` for `fm`, and
            `y=labels` when class-conditional); it is trained in place, moved to
            `train.device`, and checked once with a forward pass on one sample.
        data: Data of your own: a floating-point tensor `(N, *shape)`, a torch `Dataset` of
            `x` or `(x, y)` items, or a `DataSource` (`energykit.train.own_data`).
        progress: Show a tqdm progress bar (when tqdm is installed).
        resume: `True`: continue from `out/last.pt` when it exists; `False`: start afresh
            (overwriting the run's checkpoints); a path: continue from that checkpoint, e.g.
            `out/step_0002000.pt` when `last.pt` is damaged.
        evaluate: `f(trainer) -> dict` called every `train.eval_every` steps and at the end
            (when `eval_every > 0`); its numbers go to the log. Default: sample the EMA model
            with the recipe's sampler and score it (`energykit.train.evaluate`).
    """

    # Set by `energykit.train.parallel`: the device and process group, the per-rank batch
    # sizes, and what the loss calls (the model, or its DDP wrapper).
    device: torch.device
    dist: DistInfo
    local_batch: int
    micro_batch: int
    wrapped: nn.Module
    sharded: bool  # FSDP2 (`energykit.train.parallel`)
    _template: nn.Module | None  # an unsharded CPU copy of a user's net under FSDP

    def __init__(
        self,
        config: TrainConfig,
        out: str | Path | None = None,
        *,
        net: nn.Module | None = None,
        data: Tensor | Dataset[Any] | DataSource | None = None,
        progress: bool = True,
        resume: bool | str | Path = True,
        evaluate: Callable[[Trainer], dict[str, Any]] | None = None,
    ) -> None:
        self.out = None if out is None else Path(out)
        self.progress = progress
        self.config, self.data, model = resolve_run(config, net, data)
        t = self.config.train
        init_devices(self)
        self.model = model.to(self.device)
        if net is not None:
            check_net_output(self.model, self.config, self.data, self.device)
        if evaluate is None and t.eval_every > 0:
            from energykit.train.evaluate import default_evaluate

            evaluate = default_evaluate
        self.evaluate = evaluate
        self.ema = EMA(self.model, t.ema_decay, warmup=t.ema_warmup)
        self.objective = build_objective(self.config.objective)
        wrap_parallel(self, custom=net is not None)
        # Fused where the device supports it (`energykit.train.state`).
        self.optimizer, self.fused = build_optimizer(self)
        # What the objective is called with (the field for EqM, the net for FM), built once.
        kind = objective_kind(self.config.objective.kind)
        self.target = kind.loss_target(compile_backbone(self))
        self.explicit_energy = bool(getattr(self.target, "has_energy", False))
        offset = RANK_SEED_STRIDE * self.dist.rank
        self.data_gen = torch.Generator().manual_seed(t.seed + offset)
        #: Draws the batches from `data_gen`, one ahead when `train.prefetch` is on.
        self.prefetch = BatchPrefetcher(
            self.data,
            self.micro_batch,
            self.data_gen,
            self.device,
            enabled=prefetch_enabled(t.prefetch, self.device, self.data),
        )
        self.noise_gen = torch.Generator(device=self.device).manual_seed(t.seed + 1 + offset)
        self.step = 0
        self.history: list[dict[str, Any]] = []
        self.guard = DivergenceGuard(self.device)
        #: Step of the newest checkpoint this run wrote or resumed from.
        self.saved_step: int | None = None
        self._start(resume)

    # -- set-up ---------------------------------------------------------------------------
    def _start(self, resume: bool | str | Path) -> None:
        """Clean stale temporary files, then resume from `resume` when it names a checkpoint."""
        if self.out is not None and self.dist.is_main:
            # Left by a process killed while saving a checkpoint; nothing else is touched.
            remove_stale_temps(self.out, r"last\.pt|step_\d+\.pt")
        source = self._resume_source(resume)
        if source is not None:
            resume_from(self, source)  # a damaged file is refused, naming the intact ones
        if self.step > self.config.train.steps:
            raise ValueError(
                f"train.steps: expected at least the checkpoint's step {self.step} (resuming "
                f"from {str(source)!r}), got {self.config.train.steps}; raise train.steps to "
                "train further"
            )

    def _resume_source(self, resume: bool | str | Path) -> Path | None:
        if isinstance(resume, (str, Path)):
            return Path(resume)
        if not isinstance(resume, bool):
            raise TypeError(f"Trainer resume: expected a bool or a path, got {type(resume)}")
        last = None if self.out is None else self.out / "last.pt"
        return last if resume and last is not None and last.exists() else None

    @property
    def num_classes(self) -> int | None:
        """Classes fed to the net, or `None` for an unconditional model."""
        return self.data.num_classes if self.config.data.class_conditional else None

    @property
    def n_parameters(self) -> int:
        """Trainable parameters of the backbone."""
        return sum(p.numel() for p in self.model.parameters())

    def trained(self) -> TrainedModel:
        """The EMA model as a `TrainedModel` (shares weights with the trainer; under FSDP a
        gathered copy, and every rank must call it)."""
        return TrainedModel(
            self._plain_ema(),
            self.config.objective.kind,
            self.data.shape,
            self.num_classes,
            self.config,
            self.step,
        )

    def _plain_ema(self) -> nn.Module:
        """The EMA weights as an ordinary module (a gathered copy under FSDP; collective)."""
        if not self.sharded:
            return self.ema.model
        from energykit.train.fsdp import full_model_state

        if self._template is not None:  # a user's net: an unsharded copy made before sharding
            net = copy.deepcopy(self._template)
        else:
            cfg = self.config
            net = build_net(cfg.net, cfg.objective, self.data.shape, self.num_classes)
        net.load_state_dict(full_model_state(self.ema.model, all_ranks=True))
        return net.to(self.device).eval()

    # -- checkpoints ----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly: weights, EMA, optimiser, RNGs, step."""
        return trainer_state(self)

    def save(self, path: str | Path | None = None) -> Path:
        """Write a checkpoint atomically (default `out/last.pt`). Under torchrun every rank
        must call it (the RNG states are gathered); rank 0 writes.

        Raises:
            NonFiniteError: a step was non-finite, or a weight, EMA or optimiser value is;
                nothing is written and the previous checkpoint stays as it was.
        """
        if path is None:
            if self.out is None:
                raise ValueError("Trainer.save: no path given and the trainer has no out dir")
            path = self.out / "last.pt"
        save_trainer(self, Path(path))
        if Path(path).name == "last.pt" or self.saved_step is None:
            self.saved_step = self.step
        return Path(path)

    def load(self, path: str | Path) -> None:
        """Restore a checkpoint written by `save`; the config must match the trainer's."""
        restore_trainer(self, path)

    # -- the loop -------------------------------------------------------------------------
    def train_step(self) -> dict[str, Tensor]:
        """One optimiser step over `train.grad_accum` micro-batches (`energykit.train.step`).

        Returns 0-d tensors on the training device, so a step costs no host-device sync:
        the mean `loss`, and `grad_norm` on logged steps (every step when clipping, which
        computes it anyway); `float(stats["loss"])` reads one back. `fit` reads them only on
        log steps.

        A step whose loss or gradients are NaN/inf leaves the weights, the optimiser state and
        the EMA untouched, and so does every step after it; the check runs on the device and
        is read back by `fit` at log, evaluation and checkpoint steps (`NonFiniteError`).
        """
        return take_step(self, logged=self._logs(self.step + 1))

    def _micro_loss(self) -> Tensor:
        """The loss of one micro-batch (`energykit.train.step.micro_loss`)."""
        return micro_loss(self)

    def _logs(self, step: int) -> bool:
        every = self.config.train.log_every
        return bool(every) and step % every == 0

    def _no_sync(self, last: bool) -> Any:
        """Skip the gradient all-reduce on all but the last micro-batch of a step."""
        if self.sharded:
            self.model.set_requires_gradient_sync(last)  # type: ignore[operator]
            return nullcontext()
        if last or not self.dist.active:
            return nullcontext()
        return self.wrapped.no_sync()  # type: ignore[operator]

    def fit(self, until: int | None = None) -> list[dict[str, Any]]:
        """Train up to step `until` (default `train.steps`); returns the log records.

        Checkpoints go to `out/last.pt` every `train.ckpt_every` steps and at the end. A
        non-finite step is not applied, and the next log, evaluation or checkpoint step raises
        `NonFiniteError`, leaving the last checkpoint as it was. Log records of steps after
        the resumed one (redone now) are dropped from `log.jsonl` first.
        """
        t = self.config.train
        until = t.steps if until is None else until
        if until < self.step:
            raise ValueError(
                f"Trainer.fit until: expected at least the current step {self.step}, got {until}"
            )
        log = self._open_log()
        bar = progress_bar(self.progress and self.dist.is_main, initial=self.step, total=until)
        try:
            if log is not None:
                write_record(
                    log, {"event": "start", "step": self.step, "params": self.n_parameters}
                )
            self._loop(until, log, bar)
            self.guard.raise_if_tripped(self.saved_step)
            if self.evaluate is not None and not (t.eval_every and self.step % t.eval_every == 0):
                self._run_eval(log)
            if self.out is not None:
                self.save()
        finally:
            if bar is not None:
                bar.close()
            if log is not None:
                log.close()
        return self.history

    def _open_log(self) -> Any:
        """Write `config.json`, trim `log.jsonl` to the current step and open it (rank 0 of
        a run with an out dir; `None` otherwise)."""
        if self.out is None or not self.dist.is_main:
            return None
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "config.json").write_text(json.dumps(self.config.to_dict(), indent=2))
        trim_log(self.out / "log.jsonl", self.step)
        return (self.out / "log.jsonl").open("a")

    def _loop(self, until: int, log: Any, bar: Any) -> None:
        """Steps up to `until`, each followed by its logging, evaluation and checkpoints.

        The loss is averaged on the device; it is read back (with the gradient norm and the
        running average the progress bar shows) only on log steps.
        """
        start, start_step = time.perf_counter(), self.step
        running: Tensor | None = None
        while self.step < until:
            stats = self.train_step()
            if bar is not None:  # the running loss is only shown on the bar
                loss = stats["loss"]
                running = (
                    loss.clone() if running is None else running.mul_(0.98).add_(loss, alpha=0.02)
                )
                bar.update(1)
            record = None
            if self._logs(self.step):
                elapsed = time.perf_counter() - start
                rate = (self.step - start_step) / max(elapsed, 1e-9)
                values = {k: _scalar(v) for k, v in stats.items()}
                record = {"step": self.step, **values, "it_per_s": rate, "elapsed_s": elapsed}
                if bar is not None and running is not None:
                    bar.set_postfix(loss=f"{_scalar(running):.4f}", refresh=False)
            self._after_step(record, log)

    def _after_step(self, record: dict[str, Any] | None, log: Any) -> None:
        """Log (`record`, on log steps), evaluate and checkpoint at the steps their cadences
        name."""
        t = self.config.train
        if record is not None:
            self.history.append(record)
            if log is not None:
                write_record(log, record)
            self.guard.raise_if_tripped(self.saved_step)  # the host waits here anyway
        if t.eval_every and self.step % t.eval_every == 0:
            self._run_eval(log)
        if self.out is not None:
            if t.ckpt_every and self.step % t.ckpt_every == 0:
                self.save()
            if t.keep_every and self.step % t.keep_every == 0:
                self.save(self.out / f"step_{self.step:07d}.pt")

    def _run_eval(self, log: Any) -> None:
        self.guard.raise_if_tripped(self.saved_step)
        if self.evaluate is None or not self.dist.is_main:
            return
        record = {"step": self.step, "eval": self.evaluate(self)}
        self.history.append(record)
        if log is not None:
            write_record(log, record)


def _scalar(t: Tensor) -> float:
    """A 0-d tensor (or FSDP's DTensor, gathered) as a float."""
    full = getattr(t, "full_tensor", None)
    return float(full() if callable(full) else t)

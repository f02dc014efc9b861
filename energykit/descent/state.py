"""`DescentState`: a descent in progress, between `Descender.start` and its result."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from energykit.descent.result import DescentResult
from energykit.descent.schedule import StepSchedule


@dataclass
class DescentState:
    """A descent in progress (from `Descender.start`), advanced by `Descender.step`.

    Whenever control is back with the caller (after `Descender.step`, inside a callback, after
    `Descender.run`), the per-sample tensors are up to date. In between, a descent where
    every row moves every step keeps its counts on the host (`pending_steps`,
    `pending_evals`, with `last_grad`) and the `Descender` folds them in when it hands
    control back, so a step of `run` launches no accounting kernels. What the host knows of
    the device (`n_converged`, `n_failed`, `rows`, hence `done`) is refreshed at read-backs
    only: every `check_every` steps and at the last step.

    Attributes:
        x: The samples, a leaf tensor the optimiser owns, `(B, *shape)`.
        optimizer: The optimiser stepping `x`.
        cond: Conditioning for the field, batched tensors sliced with the active rows.
        max_steps: The step budget.
        steps: Updates per sample, `(B,)`.
        nfe: Field evaluations per sample, `(B,)`.
        grad_norm: Last evaluated gradient norm per sample, `(B,)`.
        converged: Rows stopped on `g_min`, `(B,)`.
        failed: Rows frozen on a non-finite value (`nonfinite="freeze"`), `(B,)`.
        step: Steps taken so far.
        n_converged: `int(converged.sum())` at the last read-back, kept on the host so `done`
            needs no device sync.
        n_failed: `int(failed.sum())` at the last read-back, likewise.
        check_every: Steps between read-backs of what is tracked on the device.
        checked: Steps covered by the last read-back.
        rows: Indices of the rows passed to the field, `(A,)`, as of the last read-back;
            `None` while no row has stopped.
        trajectory: Recorded states (with `record=True`).
        last_grad: The gradient written into `x.grad` by the last evaluation, `(B, *shape)`
            (zero on rows not evaluated); `None` before the first step.
        pending_steps: Steps taken by every row and not yet added to `steps`.
        pending_evals: Evaluations of every row not yet added to `nfe` (nor their norm to
            `grad_norm`).
        optimizer_step: Calls `optimizer.step(closure)` (see `descent._stepping`).
        window: Fixed budget: per step since the last read-back, the row extrema of samples
            and gradient, `(check_every, 4, B)`.
        slots: Fixed budget: the window's per-step views.
        x_rows: Fixed budget: `x` viewed as `(B, D)`.
        bad_at: Adaptive compute with `nonfinite="raise"`: the step at which each row turned
            non-finite (-1: never), `(B,)`.
        bad_grad: Likewise, whether the gradient was the culprit, `(B,)`.
        schedule: Per-step hyper-parameters written before each step, or `None`.
        scheduler: A torch scheduler stepped after each step, or `None`.
    """

    x: Tensor
    optimizer: Optimizer
    cond: dict[str, Any]
    max_steps: int
    steps: Tensor
    nfe: Tensor
    grad_norm: Tensor
    converged: Tensor
    failed: Tensor
    step: int = 0
    n_converged: int = 0
    n_failed: int = 0
    check_every: int = 1
    checked: int = 0
    rows: Tensor | None = field(default=None, repr=False)
    trajectory: list[Tensor] | None = field(default=None)
    last_grad: Tensor | None = field(default=None, repr=False)
    pending_steps: int = 0
    pending_evals: int = 0
    window: Tensor | None = field(default=None, repr=False)
    optimizer_step: Callable[[Callable[[], Any]], Any] | None = field(default=None, repr=False)
    slots: list[tuple[Tensor, ...]] = field(default_factory=list, repr=False)
    x_rows: Tensor | None = field(default=None, repr=False)
    bad_at: Tensor | None = field(default=None, repr=False)
    bad_grad: Tensor | None = field(default=None, repr=False)
    schedule: StepSchedule | None = field(default=None, repr=False)
    scheduler: LRScheduler | None = field(default=None, repr=False)

    @property
    def done(self) -> bool:
        """True once every step was taken or every sample has stopped or failed."""
        stopped = self.n_converged + self.n_failed
        return self.step >= self.max_steps or stopped == self.x.shape[0]

    def result(self) -> DescentResult:
        """Freeze the state into a `DescentResult` (copies; the state is not changed)."""
        traj = None if self.trajectory is None else torch.stack(self.trajectory)
        return DescentResult(
            x=self.x.detach().clone(),
            steps=self.steps.clone(),
            nfe=self.nfe.clone(),
            grad_norm=self.grad_norm.clone(),
            converged=self.converged.clone(),
            failed=self.failed.clone(),
            trajectory=traj,
        )

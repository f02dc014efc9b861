"""How a `Descender` step evaluates the field and accounts for it: two strategies, one loop.

The loop (`Descender`) is always the same: plan the step, let the optimiser call a closure
that writes the gradient into `x.grad`, then settle the step. What differs is chosen once, at
construction:

- `AllRows`: the fixed budget (no `g_min`, `nonfinite="raise"`). Every row is evaluated and
  moved every step; per step only the field, the optimiser and two kernels that record the
  row extrema of samples and gradient run (`_finite`), and the per-sample counts wait on the
  host until `settle`.
- `ActiveRows` (`_active`): adaptive compute (`g_min`) and/or freezing (`nonfinite="freeze"`).

Neither reads a value back to the host on a step that is not a read-back step (every
`state.check_every` steps and the last one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

from energykit._checks import batch_norm, check_gradient, select_rows
from energykit.descent._finite import check_window, new_window, record
from energykit.descent.state import DescentState
from energykit.fields.base import EnergyField


@dataclass(frozen=True)
class Plan:
    """What one step evaluates.

    Attributes:
        active: Rows evaluated and moved, `(B,)` bool; `None` for all.
        rows: Their indices, `(A,)`; `None` when every row is active.
        before: The samples before the step, to put held rows back; `None` if none can be.
    """

    active: Tensor | None = None
    rows: Tensor | None = None
    before: Tensor | None = None


_EVERY_ROW = Plan()


class Evaluation(Protocol):
    """An evaluation strategy of the `Descender` loop."""

    def prepare(self, state: DescentState) -> None:
        """Allocate what the strategy tracks on the device (called once by `start`)."""
        ...

    def plan(self, state: DescentState) -> Plan:
        """The rows the next step evaluates (reads `state`)."""
        ...

    def absorb(self, state: DescentState, plan: Plan, k: int) -> Tensor:
        """Evaluate the field for step `k`, count it in `state`, return the gradient to write
        into `x.grad`, `(B, *shape)`."""
        ...

    def close_step(self, state: DescentState, plan: Plan, k: int) -> None:
        """After the optimiser's update of step `k`: hold rows back, check, count the step."""
        ...

    def settle(self, state: DescentState) -> None:
        """Fold counts kept on the host into `state`'s per-sample tensors."""
        ...


def field_gradient(field: EnergyField, state: DescentState, rows: Tensor | None) -> Tensor:
    """$\\nabla E$ at the optimiser's current point for `rows` (all when `None`),
    `(A, *shape)`, with the conditioning sliced to match, in the samples' dtype (a network
    run in low precision returns its own; the descent state keeps the caller's). Call it under
    `torch.no_grad()` (descent never differentiates through the field)."""
    x = state.x.detach()
    if rows is None:
        g = check_gradient(field, x, field.gradient(x, **state.cond))
    else:
        xa = x[rows]
        g = field.gradient(xa, **select_rows(state.cond, rows, len(x)))
        g = check_gradient(field, xa, g)
    return g if g.dtype == x.dtype else g.to(x.dtype)


class AllRows:
    """Every row evaluated and moved every step (fixed budget, non-finite values raise)."""

    def __init__(self, field: EnergyField) -> None:
        self.field = field

    def prepare(self, state: DescentState) -> None:
        x = state.x.detach()
        state.window, state.slots = new_window(state.check_every, x.shape[0], x.dtype, x.device)
        state.x_rows = x.view(x.shape[0], -1)  # a view: the optimiser updates x in place

    def plan(self, state: DescentState) -> Plan:
        return _EVERY_ROW

    def absorb(self, state: DescentState, plan: Plan, k: int) -> Tensor:
        grad_mode = torch.is_grad_enabled()  # on: optimisers call closures under enable_grad
        torch.set_grad_enabled(False)  # a plain switch costs less than a `no_grad` scope
        try:
            g = field_gradient(self.field, state, None)
        finally:
            torch.set_grad_enabled(grad_mode)
        state.pending_evals += 1  # LBFGS calls its closure several times per step
        return g

    def close_step(self, state: DescentState, plan: Plan, k: int) -> None:
        """Record the step's row extrema on the device; read them back (one host read) every
        `check_every` steps and at the last step."""
        window, slot, x_rows = state.window, k - state.checked, state.x_rows
        assert window is not None and x_rows is not None and state.last_grad is not None
        if x_rows.data_ptr() != state.x.data_ptr():  # an optimiser replaced x.data
            x_rows = state.x_rows = state.x.detach().reshape(state.x.shape[0], -1)
        record(state.slots[slot], x_rows, state.last_grad)
        state.pending_steps += 1
        if slot + 1 == state.check_every or k + 1 >= state.max_steps:
            check_window(window, slot + 1, state.checked)
            state.checked = k + 1

    def settle(self, state: DescentState) -> None:
        if state.pending_evals == 0 or state.last_grad is None:
            return
        state.steps.add_(state.pending_steps)
        state.nfe.add_(state.pending_evals)
        state.grad_norm.copy_(batch_norm(state.last_grad))
        state.pending_steps = state.pending_evals = 0

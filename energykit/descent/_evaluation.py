"""How a `Descender` step evaluates the field and accounts for it: two strategies, one loop.

The loop (`Descender`) is always the same: plan the step, let the optimiser call a closure
that writes the gradient into `x.grad`, then settle the step. What differs is chosen once, at
construction:

- `AllRows`: the fixed budget (no `g_min`, `nonfinite="raise"`). Every row is evaluated and
  moved every step; per step only the field, the optimiser and one finiteness check of the
  samples run, and the per-sample counts wait on the host until `settle`.
- `ActiveRows`: adaptive compute (`g_min`) and/or freezing (`nonfinite="freeze"`). Only the
  rows still descending are passed to the field; stopped and frozen rows get a zero gradient
  and are put back after the step, so they stay bit-identical.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

from energykit._checks import batch_norm, batch_view, check_gradient, select_rows
from energykit.descent._finite import check_finite, finite_rows
from energykit.descent._inputs import NonFinite
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
    `(A, *shape)`, with the conditioning sliced to match. Call it under `torch.no_grad()`
    (descent never differentiates through the field)."""
    x = state.x.detach()
    if rows is None:
        return check_gradient(field, x, field.gradient(x, **state.cond))
    xa = x[rows]
    return check_gradient(field, xa, field.gradient(xa, **select_rows(state.cond, rows, len(x))))


class AllRows:
    """Every row evaluated and moved every step (fixed budget, non-finite values raise)."""

    def __init__(self, field: EnergyField) -> None:
        self.field = field

    def plan(self, state: DescentState) -> Plan:
        return _EVERY_ROW

    def absorb(self, state: DescentState, plan: Plan, k: int) -> Tensor:
        with torch.no_grad():
            g = field_gradient(self.field, state, None)
        state.pending_evals += 1  # LBFGS calls its closure several times per step
        return g

    def close_step(self, state: DescentState, plan: Plan, k: int) -> None:
        # One sync: a NaN gradient reaches x through the update, so this covers both.
        check_finite("samples", k, state.x, blame=state.last_grad)
        state.pending_steps += 1

    def settle(self, state: DescentState) -> None:
        if state.pending_evals == 0 or state.last_grad is None:
            return
        state.steps.add_(state.pending_steps)
        state.nfe.add_(state.pending_evals)
        state.grad_norm.copy_(batch_norm(state.last_grad))
        state.pending_steps = state.pending_evals = 0


class ActiveRows:
    """Only rows still descending are evaluated; stopped (`g_min`) and frozen
    (`nonfinite="freeze"`) rows get a zero gradient and are put back after each step.

    Args:
        field: The landscape.
        g_min: Rows whose gradient norm falls below it stop; `None` for none.
        nonfinite: `"raise"` or `"freeze"` (see `Descender`).
    """

    def __init__(self, field: EnergyField, g_min: float | None, nonfinite: NonFinite) -> None:
        self.field, self.g_min, self.freeze = field, g_min, nonfinite == "freeze"

    def plan(self, state: DescentState) -> Plan:
        active = ~(state.converged | state.failed)
        rows = None if state.n_converged + state.n_failed == 0 else active.nonzero().flatten()
        return Plan(active, rows, state.x.detach().clone())

    @torch.no_grad()
    def absorb(self, state: DescentState, plan: Plan, k: int) -> Tensor:
        g = field_gradient(self.field, state, plan.rows)
        norms = batch_norm(g)
        idx = slice(None) if plan.rows is None else plan.rows
        state.nfe[idx] += 1
        state.grad_norm[idx] = norms.to(state.grad_norm.dtype)
        if self.freeze:
            # Tracked on the device: no sync here. A frozen row's NaN never reaches the
            # optimiser (a NaN would spread through any optimiser that mixes rows).
            state.failed[idx] |= ~torch.isfinite(norms)
            g = torch.where(batch_view(state.failed[idx], g), torch.zeros_like(g), g)
        else:
            check_finite("gradient", k, norms, index=plan.rows)
        if self.g_min is not None:
            newly = norms < self.g_min
            state.converged[idx] |= newly
            g = torch.where(batch_view(newly, g), torch.zeros_like(g), g)
        if plan.rows is None:
            return g
        full = torch.zeros_like(state.x)
        full[plan.rows] = g
        return full

    @torch.no_grad()
    def close_step(self, state: DescentState, plan: Plan, k: int) -> None:
        """Freeze rows whose sample turned non-finite (`"freeze"`), put stopped and frozen rows
        back, count the moved ones, and refresh the host-side counts (one sync; `"raise"` adds
        the finiteness check of the moved rows)."""
        x, active, before = state.x, plan.active, plan.before
        assert active is not None and before is not None  # internal: from ActiveRows.plan
        if self.freeze:
            state.failed |= active & ~state.converged & ~finite_rows(x)
        held = state.converged | state.failed
        x.copy_(torch.where(batch_view(held, x), before, x))
        moved = active & ~held
        state.steps += moved.long()
        if not self.freeze:
            check_finite("samples", k, x, among=moved)
        counts = torch.stack([state.converged.sum(), state.failed.sum()]).tolist()
        state.n_converged, state.n_failed = int(counts[0]), int(counts[1])

    def settle(self, state: DescentState) -> None:
        """Nothing to fold: every count is written on the device as it happens."""


def evaluation_for(field: EnergyField, g_min: float | None, nonfinite: NonFinite) -> Evaluation:
    """The strategy a `Descender` with these settings runs: `AllRows` when no row can stop
    or freeze, `ActiveRows` otherwise."""
    if g_min is None and nonfinite == "raise":
        return AllRows(field)
    return ActiveRows(field, g_min, nonfinite)

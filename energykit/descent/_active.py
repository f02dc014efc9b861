"""`ActiveRows`: the evaluation strategy of adaptive compute (`g_min`) and freezing
(`nonfinite="freeze"`), with no host read between read-backs.

Which rows stop (on `g_min`) or freeze (on a NaN/inf) is decided on the device, every step:
their gradient is zeroed before the optimiser sees it, their samples are put back after the
update, and their counts (`steps`, `nfe`, `grad_norm`) are not touched again, so a row that
stops at step $k$ keeps `steps = k`, `nfe = k + 1` and its value, bit for bit, exactly as if
it had left the batch at once.

Which rows are *passed to the field* is known on the host, and changes only at a read-back
(every `state.check_every` steps and the last step): there the counts of stopped and frozen
rows are read, and the rows still descending are indexed (`nonzero`). Between read-backs the
field still sees rows that stopped since the last one; their results are discarded. That is
the price of no per-step host read: up to `check_every - 1` wasted evaluations per stopped
row, and, once every row has stopped, up to `check_every - 1` steps that evaluate and move
nothing.

With `nonfinite="raise"` a row that turns non-finite is held like a frozen one and its step
and culprit are recorded on the device; the next read-back raises, naming the first bad step
and its rows as a per-step check would.
"""

from __future__ import annotations

import torch
from torch import Tensor

from energykit._checks import batch_norm, batch_view
from energykit.descent._evaluation import AllRows, Evaluation, Plan, field_gradient
from energykit.descent._finite import check_rows, finite_rows
from energykit.descent._inputs import NonFinite
from energykit.descent.state import DescentState
from energykit.fields.base import EnergyField


class ActiveRows:
    """Only rows still descending move; stopped (`g_min`) and frozen (`nonfinite="freeze"`)
    rows get a zero gradient and are put back after each step.

    Args:
        field: The landscape.
        g_min: Rows whose gradient norm falls below it stop; `None` for none.
        nonfinite: `"raise"` or `"freeze"` (see `Descender`).
    """

    def __init__(self, field: EnergyField, g_min: float | None, nonfinite: NonFinite) -> None:
        self.field, self.g_min, self.freeze = field, g_min, nonfinite == "freeze"

    def prepare(self, state: DescentState) -> None:
        if not self.freeze:
            b, dev = state.x.shape[0], state.x.device
            state.bad_at = torch.full((b,), -1, dtype=torch.long, device=dev)
            state.bad_grad = torch.zeros(b, dtype=torch.bool, device=dev)

    def plan(self, state: DescentState) -> Plan:
        """Rows still descending (on the device), rows to evaluate (known on the host)."""
        active = ~(state.converged | state.failed)
        return Plan(active, state.rows, state.x.detach().clone())

    @torch.no_grad()
    def absorb(self, state: DescentState, plan: Plan, k: int) -> Tensor:
        """Evaluate the rows of `plan`; count, stop and freeze the live ones on the device."""
        assert plan.active is not None  # internal: from `plan`
        g = field_gradient(self.field, state, plan.rows)
        norms = batch_norm(g)
        idx = slice(None) if plan.rows is None else plan.rows
        live = plan.active[idx]  # (A,): evaluated rows that had not stopped
        state.nfe[idx] += live
        state.grad_norm[idx] = torch.where(
            live, norms.to(state.grad_norm.dtype), state.grad_norm[idx]
        )
        bad = live & ~torch.isfinite(norms)
        # A non-finite row never reaches the optimiser (NaN spreads through optimisers that
        # mix rows): frozen, or held until the read-back raises.
        state.failed[idx] |= bad
        if state.bad_at is not None and state.bad_grad is not None:
            state.bad_at[idx] = torch.where(bad, k, state.bad_at[idx])
            state.bad_grad[idx] |= bad
        hold = ~live | bad
        if self.g_min is not None:
            newly = live & (norms < self.g_min)
            state.converged[idx] |= newly
            hold = hold | newly
        g = torch.where(batch_view(hold, g), torch.zeros_like(g), g)
        if plan.rows is None:
            return g
        full = torch.zeros_like(state.x)
        full[plan.rows] = g
        return full

    @torch.no_grad()
    def close_step(self, state: DescentState, plan: Plan, k: int) -> None:
        """Hold rows whose sample turned non-finite, put stopped and frozen rows back, count
        the moved ones, and read back every `check_every` steps and at the last step."""
        x, active, before = state.x, plan.active, plan.before
        assert active is not None and before is not None  # internal: from `plan`
        overflow = active & ~state.converged & ~state.failed & ~finite_rows(x)
        state.failed |= overflow
        if state.bad_at is not None:
            state.bad_at.copy_(torch.where(overflow, k, state.bad_at))
        held = state.converged | state.failed
        x.copy_(torch.where(batch_view(held, x), before, x))
        state.steps += active & ~held
        if (k + 1 - state.checked) % state.check_every == 0 or k + 1 >= state.max_steps:
            self.read_back(state, k)

    def read_back(self, state: DescentState, k: int) -> None:
        """Refresh the host's view (counts, rows to evaluate): the one host read, or raise for
        rows recorded bad with `nonfinite="raise"`."""
        counts = torch.stack([state.converged.sum(), state.failed.sum()]).tolist()
        n_converged, n_failed = int(counts[0]), int(counts[1])
        if n_failed and state.bad_at is not None and state.bad_grad is not None:
            check_rows(state.bad_at, state.bad_grad)
        if (n_converged, n_failed) != (state.n_converged, state.n_failed):
            active = ~(state.converged | state.failed)
            state.rows = active.nonzero().flatten()
        state.n_converged, state.n_failed, state.checked = n_converged, n_failed, k + 1

    def settle(self, state: DescentState) -> None:
        """Nothing to fold: every count is written on the device as it happens."""


def evaluation_for(field: EnergyField, g_min: float | None, nonfinite: NonFinite) -> Evaluation:
    """The strategy a `Descender` with these settings runs: `AllRows` when no row can stop
    or freeze, `ActiveRows` otherwise."""
    if g_min is None and nonfinite == "raise":
        return AllRows(field)
    return ActiveRows(field, g_min, nonfinite)

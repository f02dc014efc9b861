"""`Descender`: any torch optimiser as a sampler on an energy landscape.

Samples are the parameters. Each step writes $\\nabla E(x)$ into `x.grad` from a closure and
calls `optimizer.step(closure)`; the optimiser's own maths does the rest, so SGD is gradient
descent, `NAGGD` is the paper's Algorithm 2, and Adam, RMSprop or anything else just work.

Adaptive compute (`g_min`): a sample whose gradient norm falls below `g_min` stops. It is
never passed to the field again, so the network cost really falls, and its value stays
bit-identical from then on.

Non-finite values (`nonfinite`): by default a NaN/inf gradient or sample raises
`FloatingPointError`. With `nonfinite="freeze"` the sample is frozen instead, like a stopped
one: it is never evaluated or moved again, its `x` stays at its last finite iterate, and
`DescentResult.failed` names it, while the rest of the batch descends on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from energykit._checks import (
    batch_norm,
    batch_view,
    check_gradient,
    check_int,
    check_real,
    select_rows,
)
from energykit.descent._inputs import (
    NonFinite,
    check_callback,
    check_flag,
    check_nonfinite,
    check_x0,
)
from energykit.descent.resolve import (
    OptimizerSpec,
    build_optimizer,
    check_optimizer_kwargs,
    resolve_optimizer,
)
from energykit.descent.result import DescentResult, DescentStep
from energykit.fields.base import EnergyField


@dataclass
class DescentState:
    """A descent in progress (from `Descender.start`), advanced by `Descender.step`.

    Attributes:
        x: The samples, a leaf tensor the optimiser owns, `(B, *shape)`.
        optimizer: The optimiser stepping `x`.
        cond: Conditioning for the field, batched tensors sliced with the active rows.
        step: Steps taken so far.
        steps: Updates per sample, `(B,)`.
        nfe: Field evaluations per sample, `(B,)`.
        grad_norm: Last evaluated gradient norm per sample, `(B,)`.
        converged: Rows stopped on `g_min`, `(B,)`.
        failed: Rows frozen on a non-finite value (`nonfinite="freeze"`), `(B,)`.
        trajectory: Recorded states (with `record=True`).
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
    #: `int(converged.sum())`, kept on the host so `done` needs no device sync.
    n_converged: int = 0
    #: `int(failed.sum())`, likewise.
    n_failed: int = 0
    trajectory: list[Tensor] | None = field(default=None)

    @property
    def done(self) -> bool:
        """True once every step was taken or every sample has stopped or failed."""
        stopped = self.n_converged + self.n_failed
        return self.step >= self.max_steps or stopped == self.x.shape[0]

    def result(self) -> DescentResult:
        """Freeze the state into a `DescentResult`."""
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


class Descender:
    """Turn an optimiser into a sampler that descends `field`.

    Args:
        field: The landscape; its gradient points uphill (paper sign).
        optimizer: An `Optimizer` class, a factory `f(params, **kw)`, or a name (`"gd"`,
            `"nag"`, `"adam"`, any `torch.optim` or `torch_optimizer` class name).
        lr: Step size; `None` keeps the optimiser's default.
        steps: Maximum number of steps, at least 1.
        g_min: Adaptive compute: a sample stops once $\\lVert\\nabla E(x)\\rVert <$ `g_min`.
        record: Keep the trajectory.
        callback: Called with a `DescentStep` after every step.
        nonfinite: What a NaN/inf gradient or sample does. `"raise"` (default): raise
            `FloatingPointError` naming the step and the samples, losing the batch.
            `"freeze"`: freeze those samples (never evaluated or moved again, `x` kept at
            their last finite iterate), descend the others, and report them in
            `DescentResult.failed`. Frozen rows get a zero gradient and are restored after
            each step, as stopped ones are, so per-element optimisers (SGD, NAG-GD, Adam,
            RMSprop) give the other rows bit-identical results to a run without the bad
            rows; optimisers that mix rows (LBFGS) see the zeros.
        **optimizer_kwargs: Passed to the optimiser, e.g. `momentum=0.3` for `"nag"`.

    Raises:
        TypeError: `field` is not an `EnergyField`; `optimizer` is neither an `Optimizer`
            class, a factory nor a name; an `optimizer_kwargs` key (or `lr`) the optimiser
            does not accept; `record` is not a bool; `callback` is not callable.
        ValueError: an unknown optimiser name; `lr < 0`, `steps < 1`, `g_min <= 0`, or
            non-finite numbers; an unknown `nonfinite` mode.

    Example:
        ```python
        result = Descender(field, "nag", lr=0.0017, momentum=0.3, g_min=0.05).run(x0)
        samples, work = result.x, result.nfe_total
        ```
    """

    def __init__(
        self,
        field: EnergyField,
        optimizer: OptimizerSpec = torch.optim.SGD,
        *,
        lr: float | None = None,
        steps: int = 250,
        g_min: float | None = None,
        record: bool = False,
        callback: Callable[[DescentStep], None] | None = None,
        nonfinite: NonFinite = "raise",
        **optimizer_kwargs: Any,
    ) -> None:
        if not isinstance(field, EnergyField):
            raise TypeError(f"Descender field: expected an EnergyField, got {type(field)}")
        self.field = field
        self.optimizer = optimizer
        self._factory = resolve_optimizer(optimizer)  # unknown names fail here, not at run()
        self.lr = None if lr is None else check_real("lr", lr, minimum=0.0)
        check_optimizer_kwargs(self._factory, self.lr, optimizer_kwargs)
        self.steps = check_int("steps", steps, minimum=1)
        self.g_min = None if g_min is None else check_real("g_min", g_min, minimum=0.0, strict=True)
        self.record = check_flag("record", record)
        self.callback = check_callback(callback)
        self.nonfinite = check_nonfinite(nonfinite)
        self.optimizer_kwargs = optimizer_kwargs

    def start(self, x0: Tensor, **cond: Any) -> DescentState:
        """Set up a descent from `x0` (not modified) without taking a step.

        Args:
            x0: Starting points, floating point, finite and non-empty, `(B, *shape)`, with
                the dtype and device of the field's parameters.
            **cond: Conditioning; batched tensors must have `B` rows.

        Raises:
            TypeError: `x0` is not a floating tensor or its dtype is not the field's.
            ValueError: `x0` is empty, holds NaN/inf, or sits on another device than the
                field; a conditioning tensor has another batch size.
        """
        x = check_x0(self.field, x0, cond).detach().clone()
        b, dev = x.shape[0], x.device
        return DescentState(
            x=x,
            optimizer=build_optimizer(self._factory, x, self.lr, self.optimizer_kwargs),
            cond=dict(cond),
            max_steps=self.steps,
            steps=torch.zeros(b, dtype=torch.long, device=dev),
            nfe=torch.zeros(b, dtype=torch.long, device=dev),
            grad_norm=torch.full((b,), float("nan"), dtype=x.dtype, device=dev),
            converged=torch.zeros(b, dtype=torch.bool, device=dev),
            failed=torch.zeros(b, dtype=torch.bool, device=dev),
            trajectory=[x.clone()] if self.record else None,
        )

    def step(self, state: DescentState) -> DescentStep:
        """Take one optimiser step on every active sample of `state`.

        Raises:
            TypeError: `state` is not a `DescentState`.
            RuntimeError: the descent is already done.
            FloatingPointError: a gradient or a sample turned non-finite (names step and rows);
                with `nonfinite="freeze"` those rows are frozen instead.
        """
        if not isinstance(state, DescentState):
            raise TypeError(
                "Descender.step state: expected a DescentState from Descender.start, "
                f"got {type(state).__name__}"
            )
        active, grad = self._advance(state)
        return self._report(state, active, grad)

    def _report(self, state: DescentState, active: Tensor, grad: Tensor) -> DescentStep:
        """The `DescentStep` record of the step just taken, passed to the callback if any."""
        info = DescentStep(
            state.step - 1,
            state.x.detach(),
            grad,
            state.grad_norm.clone(),
            active,
            state.converged.clone(),
            state.failed.clone(),
        )
        if self.callback is not None:
            self.callback(info)
        return info

    def _advance(self, state: DescentState) -> tuple[Tensor, Tensor]:
        """One step. Returns the rows evaluated `(B,)` and the gradient written `(B, *shape)`,
        from which `_report` builds a record only when one is wanted (`run` without a
        callback skips it, saving two copies per step)."""
        if state.done:
            raise RuntimeError(f"Descender.step: the descent is done after {state.step} steps")
        x, k = state.x, state.step
        active = ~(state.converged | state.failed)
        rows = None if state.n_converged + state.n_failed == 0 else active.nonzero().flatten()
        # Only adaptive compute and freezing hold rows back; without them nothing is restored.
        holds = self.g_min is not None or self.nonfinite == "freeze"
        before = x.detach().clone() if holds else None
        seen: dict[str, Tensor] = {}

        def closure() -> float:
            seen["grad"] = self._evaluate(state, rows, k)
            x.grad = seen["grad"]
            return 0.0  # no loss: an implicit field has no energy to report

        state.optimizer.step(closure)
        _require_closure(state.optimizer, seen)
        if before is None:
            # Nothing can stop: every row moved. One check (one host sync) covers the
            # gradient and the new samples.
            state.steps.add_(1)
            _check_finite_all(x, state.grad_norm, k)
        else:
            self._hold_back(state, active, before, k)
        state.step += 1
        if state.trajectory is not None:
            state.trajectory.append(x.detach().clone())
        return active, seen["grad"]

    @torch.no_grad()
    def _hold_back(self, state: DescentState, active: Tensor, before: Tensor, k: int) -> None:
        """After a step: freeze rows whose sample turned non-finite (`"freeze"`), put stopped
        and frozen rows back to `before`, count the moved ones, and refresh the host-side
        counts (one sync; `"raise"` adds the finiteness check of the moved rows)."""
        x = state.x
        if self.nonfinite == "freeze":
            state.failed |= active & ~state.converged & ~_finite_rows(x)
        held = state.converged | state.failed
        x.copy_(torch.where(batch_view(held, x), before, x))
        moved = active & ~held
        state.steps += moved.long()
        if self.nonfinite == "raise":
            _check_finite_rows(x, moved, k)
        counts = torch.stack([state.converged.sum(), state.failed.sum()]).tolist()
        state.n_converged, state.n_failed = int(counts[0]), int(counts[1])

    def run(self, x0: Tensor, **cond: Any) -> DescentResult:
        """Descend from `x0` until `steps` are taken or every sample has stopped (or failed).

        Args:
            x0: Starting points, `(B, *shape)`; not modified.
            **cond: Conditioning for the field, e.g. `y=labels` of shape `(B,)`.

        Returns:
            A `DescentResult` with the final samples and per-sample accounting.

        Raises:
            TypeError, ValueError: bad `x0` or `cond` (see `start`).
            FloatingPointError: with `nonfinite="raise"`, a gradient or sample turned
                non-finite.
        """
        state = self.start(x0, **cond)
        lean = self.g_min is None and self.nonfinite == "raise"
        if lean and self.callback is None and not self.record:
            self._run_fixed(state)
        while not state.done:
            active, grad = self._advance(state)
            if self.callback is not None:
                self._report(state, active, grad)
        return state.result()

    def _run_fixed(self, state: DescentState) -> None:
        """The fixed-budget loop (no adaptive compute, freezing, callback or recording): per
        step only the optimiser step and one finiteness check of the samples, which also
        catches a non-finite gradient (it reaches `x` through any optimiser's update). The
        per-sample counts and the last gradient's norm are filled in once at the end; the
        evaluations are the closure's calls, counted on the host (LBFGS makes several)."""
        x, field, cond, b = state.x, self.field, state.cond, state.x.shape[0]
        last: dict[str, Tensor] = {}
        calls = [0]

        def closure() -> float:
            with torch.no_grad():
                xd = x.detach()
                last["grad"] = check_gradient(field, xd, field.gradient(xd, **cond))
            calls[0] += 1
            x.grad = last["grad"]
            return 0.0

        first = state.step
        for k in range(first, state.max_steps):
            state.optimizer.step(closure)
            _require_closure(state.optimizer, last)
            if not bool(torch.isfinite(x).all()):
                bad_g = ~torch.isfinite(last["grad"].reshape(b, -1)).all(dim=1)
                if bool(bad_g.any()):
                    rows = bad_g.nonzero().flatten().tolist()[:10]
                    raise FloatingPointError(
                        f"descent: non-finite gradient at step {k} in samples {rows}"
                    )
                _check_finite_rows(x, torch.ones(b, dtype=torch.bool, device=x.device), k)
        taken = state.max_steps - first
        state.steps.add_(taken)
        state.nfe.add_(calls[0])
        state.step = state.max_steps
        if taken:
            state.grad_norm.copy_(batch_norm(last["grad"]))

    @torch.no_grad()
    def _evaluate(self, state: DescentState, rows: Tensor | None, k: int) -> Tensor:
        """Gradient at the optimiser's current point for the active rows; zeros elsewhere
        (and, with `"freeze"`, for rows whose gradient is non-finite)."""
        x = state.x.detach()
        b = x.shape[0]
        xa = x if rows is None else x[rows]
        cond = state.cond if rows is None else select_rows(state.cond, rows, b)
        g = check_gradient(self.field, xa, self.field.gradient(xa, **cond))
        norms = batch_norm(g)
        if rows is None and self.g_min is None and self.nonfinite == "raise":
            # The finiteness of the norms is checked after the step, together with x.
            state.nfe.add_(1)
            state.grad_norm.copy_(norms)
            return g
        idx = slice(None) if rows is None else rows
        state.nfe[idx] += 1
        state.grad_norm[idx] = norms.to(state.grad_norm.dtype)
        finite = torch.isfinite(norms)
        if self.nonfinite == "raise":
            if not bool(finite.all()):
                bad = torch.arange(b, device=x.device) if rows is None else rows
                raise FloatingPointError(
                    f"descent: non-finite gradient at step {k} in samples "
                    f"{bad[~finite].tolist()[:10]}"
                )
        else:
            # Tracked on the device: no sync here. A frozen row's NaN never reaches the
            # optimiser (a NaN would spread through any optimiser that mixes rows).
            state.failed[idx] |= ~finite
            g = torch.where(batch_view(state.failed[idx], g), torch.zeros_like(g), g)
        if self.g_min is not None:
            newly = norms < self.g_min
            state.converged[idx] |= newly
            g = torch.where(batch_view(newly, g), torch.zeros_like(g), g)
        if rows is None:
            return g
        full = torch.zeros_like(x)
        full[rows] = g
        return full


def _require_closure(optimizer: Optimizer, seen: dict[str, Tensor]) -> None:
    if "grad" not in seen:
        raise RuntimeError(
            f"{type(optimizer).__name__}.step did not call its closure; the "
            "Descender needs optimisers that accept step(closure)"
        )


def _finite_rows(x: Tensor) -> Tensor:
    """Whether every entry of each sample is finite: `(B, *shape) -> (B,)` bool."""
    return torch.isfinite(x.reshape(x.shape[0], -1)).all(dim=1)


def _check_finite_all(x: Tensor, grad_norm: Tensor, k: int) -> None:
    """Raise if a gradient norm of step `k` or a sample is non-finite (one host sync)."""
    if bool(torch.isfinite(grad_norm).all() & torch.isfinite(x).all()):
        return
    bad_grad = ~torch.isfinite(grad_norm)
    if bool(bad_grad.any()):
        rows = bad_grad.nonzero().flatten().tolist()[:10]
        raise FloatingPointError(f"descent: non-finite gradient at step {k} in samples {rows}")
    rows = (~_finite_rows(x)).nonzero().flatten().tolist()
    raise FloatingPointError(f"descent: samples became non-finite at step {k}: {rows[:10]}")


def _check_finite_rows(x: Tensor, rows: Tensor, k: int) -> None:
    bad = rows & ~_finite_rows(x)
    if bool(bad.any()):
        rows_bad = bad.nonzero().flatten().tolist()[:10]
        raise FloatingPointError(f"descent: samples became non-finite at step {k}: {rows_bad}")

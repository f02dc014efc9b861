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

No host read per step: non-finite values and stopped rows are tracked on the device and read
back every `check_every` steps and at the last step (see `Descender`).

Low precision: the gradient is cast to the samples' dtype before it is written into `x.grad`,
so a field whose network runs in bfloat16 (under `torch.autocast`, or wrapped in
`energykit.fields.LowPrecision`) descends float32 samples with a float32 optimiser state.

One loop serves `run` and `step`; what a step evaluates and how it is accounted for (every
row every step for the fixed budget, active rows only for `g_min` and freezing) is an
evaluation strategy chosen at construction (`energykit.descent._evaluation`, `_active`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from energykit._checks import check_int, check_real
from energykit.descent._active import ActiveRows, evaluation_for
from energykit.descent._evaluation import Plan
from energykit.descent._inputs import (
    NonFinite,
    check_callback,
    check_flag,
    check_nonfinite,
    check_x0,
)
from energykit.descent._progress import Progress, StepBar, check_progress
from energykit.descent._stepping import OptimizerStep
from energykit.descent.budget import PAPER_STEPS, budget_lr
from energykit.descent.resolve import (
    OptimizerSpec,
    build_optimizer,
    check_optimizer_kwargs,
    resolve_optimizer,
)
from energykit.descent.result import DescentResult, DescentStep
from energykit.descent.schedule import (
    PER_STEP_KEYWORDS,
    StepSchedule,
    StepSize,
    check_per_step,
    is_sequence,
)
from energykit.descent.state import DescentState
from energykit.fields.base import EnergyField

__all__ = ["DEFAULT_CHECK_EVERY", "Descender", "DescentState"]

#: Steps between read-backs of what a descent tracks on the device (non-finite rows, stopped
#: rows), unless `check_every` says otherwise.
DEFAULT_CHECK_EVERY = 16


class Descender:
    """Turn an optimiser into a sampler that descends `field`.

    Args:
        field: The landscape; its gradient points uphill (paper sign).
        optimizer: An `Optimizer` class, a factory `f(params, **kw)`, or a name (`"gd"`,
            `"nag"`, `"adam"`, any `torch.optim` or `torch_optimizer` class name).
        lr: Step size: a number; a sequence of `steps` per-step sizes $\\eta_0, \\dots,
            \\eta_{K-1}$; or a `torch.optim.lr_scheduler` factory `f(optimizer)` (stepped
            after each step, from the budget's default step). `None`: the budget's default,
            `budget_lr`: $0.425 / K$ for GD, NAG-GD and `Multistep` (0.0017 at 250 steps),
            `2 / K` for the Adam family; any other optimiser keeps its own default.
        steps: Maximum number of steps (each one field evaluation for every optimiser
            energykit names except LBFGS), at least 1; `None`: the length of a per-step `lr`,
            else 250 (the paper's budget).
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
        check_every: Steps between read-backs of what the descent tracks on the device
            (default 16; 1 on the CPU when rows can stop).
        progress: A progress bar over the steps of `run`: `False` (default), `True` (a tqdm
            bar; needs tqdm), or a tqdm-like factory called as `factory(total=steps)` that
            returns a bar with `update(n)`, `set_postfix(**values)` and `close()`, e.g.
            `functools.partial(tqdm.tqdm, desc="sampling", leave=False)`. The bar advances
            from the host's step counter and shows the rows stopped and failed at read-backs
            only, so it adds no host read. `step` (manual loops) shows no bar.
        **optimizer_kwargs: Passed to the optimiser, e.g. `momentum=0.3` for `"nag"`;
            `momentum` may be a sequence of `steps` per-step look-aheads (NAG-GD,
            `Multistep`).

    Raises:
        TypeError: `field` is not an `EnergyField`; `optimizer` is neither an `Optimizer`
            class, a factory nor a name; an `optimizer_kwargs` key (or `lr`) the optimiser
            does not accept; `record` is not a bool; `callback` is not callable;
            `progress` is neither a bool nor callable.
        ImportError: `progress=True` and tqdm is not installed.
        ValueError: an unknown optimiser name; `lr < 0`, `steps < 1`, `g_min <= 0`,
            `check_every < 1`, or non-finite numbers; a per-step sequence whose length is not
            `steps`; an unknown `nonfinite` mode.

    Example:
        ```python
        result = Descender(field, "nag", lr=0.0017, momentum=0.3, g_min=0.05).run(x0)
        samples, work = result.x, result.nfe_total
        # Ten evaluations: Adams-Bashforth 2 on a per-step schedule.
        few = Descender(field, "ab2", lr=[0.03] * 9 + [0.1]).run(x0)
        ```
    """

    def __init__(
        self,
        field: EnergyField,
        optimizer: OptimizerSpec = torch.optim.SGD,
        *,
        lr: StepSize | None = None,
        steps: int | None = None,
        g_min: float | None = None,
        record: bool = False,
        callback: Callable[[DescentStep], None] | None = None,
        nonfinite: NonFinite = "raise",
        check_every: int | None = None,
        progress: Progress = False,
        **optimizer_kwargs: Any,
    ) -> None:
        if not isinstance(field, EnergyField):
            raise TypeError(f"Descender field: expected an EnergyField, got {type(field)}")
        self.field = field
        self.optimizer = optimizer
        self._factory = resolve_optimizer(optimizer)  # unknown names fail here, not at run()
        self.steps, base_lr, per_step, scheduler = _step_sizes(self._factory, lr, steps)
        for key in PER_STEP_KEYWORDS:
            if is_sequence(optimizer_kwargs.get(key)):
                per_step[key] = check_per_step(key, optimizer_kwargs[key], self.steps)
                # Built with the largest value, so the optimiser tracks what a look-ahead needs.
                optimizer_kwargs = {**optimizer_kwargs, key: max(per_step[key])}
        check_optimizer_kwargs(self._factory, base_lr, optimizer_kwargs)
        self.lr = lr
        #: The step size of every step when known ahead (`None` with a scheduler factory).
        self.step_sizes = (
            None
            if scheduler is not None or base_lr is None
            else per_step.get("lr", [base_lr] * self.steps)
        )
        self._base_lr = base_lr
        self._schedule = (
            None if not per_step and scheduler is None else StepSchedule(per_step, scheduler)
        )
        self.g_min = None if g_min is None else check_real("g_min", g_min, minimum=0.0, strict=True)
        self.record = check_flag("record", record)
        self.callback = check_callback(callback)
        self.nonfinite = check_nonfinite(nonfinite)
        self.check_every = (
            None if check_every is None else check_int("check_every", check_every, minimum=1)
        )
        self.progress = check_progress(progress)
        self.optimizer_kwargs = optimizer_kwargs
        # The loop is one; what a step evaluates and how it accounts is chosen here, once.
        self._evaluation = evaluation_for(field, self.g_min, self.nonfinite)

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
        x = check_x0(self.field, x0, cond).detach().clone(memory_format=torch.contiguous_format)
        b, dev = x.shape[0], x.device
        state = DescentState(
            x=x,
            optimizer=build_optimizer(self._factory, x, self._base_lr, self.optimizer_kwargs),
            cond=dict(cond),
            max_steps=self.steps,
            steps=torch.zeros(b, dtype=torch.long, device=dev),
            nfe=torch.zeros(b, dtype=torch.long, device=dev),
            grad_norm=torch.full((b,), float("nan"), dtype=x.dtype, device=dev),
            converged=torch.zeros(b, dtype=torch.bool, device=dev),
            failed=torch.zeros(b, dtype=torch.bool, device=dev),
            trajectory=[x.clone()] if self.record else None,
            check_every=self._check_every(x),
        )
        state.optimizer_step = OptimizerStep(state.optimizer)
        if self._schedule is not None:
            state.schedule = self._schedule
            state.scheduler = self._schedule.start(state.optimizer)
            if state.scheduler is not None:  # torch's schedulers watch optimizer.step itself
                state.optimizer_step = None
        self._evaluation.prepare(state)
        return state

    def _check_every(self, x: Tensor) -> int:
        """The read-back period for samples `x` (see `check_every`)."""
        if self.check_every is not None:
            return self.check_every
        can_stop = isinstance(self._evaluation, ActiveRows)
        return 1 if can_stop and x.device.type == "cpu" else DEFAULT_CHECK_EVERY

    def step(self, state: DescentState) -> DescentStep:
        """Take one optimiser step on every active sample of `state`.

        Returns:
            The `DescentStep` record of the step (also passed to the callback, if any).

        Raises:
            TypeError: `state` is not a `DescentState`.
            RuntimeError: the descent is already done.
            FloatingPointError: at a read-back step, a gradient or a sample turned non-finite
                since the last one (names the step and rows); with `nonfinite="freeze"` those
                rows are frozen instead.
        """
        if not isinstance(state, DescentState):
            raise TypeError(
                "Descender.step state: expected a DescentState from Descender.start, "
                f"got {type(state).__name__}"
            )
        if state.done:
            raise RuntimeError(f"Descender.step: the descent is done after {state.step} steps")
        plan = self._advance(state)
        self._evaluation.settle(state)
        assert state.last_grad is not None  # internal: `_advance` checked the closure ran
        info = DescentStep(
            state.step - 1,
            state.x.detach(),
            state.last_grad,
            state.grad_norm.clone(),
            _active_rows(plan, state),
            state.converged.clone(),
            state.failed.clone(),
        )
        if self.callback is not None:
            self.callback(info)
        return info

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
        # With a callback every step is reported (`step`); without, no record is built.
        advance = self._advance if self.callback is None else self.step
        if self.progress is False:
            while not state.done:
                advance(state)
        else:
            bar = StepBar(self.progress, self.steps, isinstance(self._evaluation, ActiveRows))
            try:
                while not state.done:
                    advance(state)
                    bar.advance(state)
            finally:
                bar.close()
        self._evaluation.settle(state)
        return state.result()

    def _advance(self, state: DescentState) -> Plan:
        """The loop's body on a state that is not done: plan, let the optimiser step through
        the closure, close the step. Returns the plan it ran (which rows were evaluated)."""
        k, x, evaluation = state.step, state.x, self._evaluation
        plan = evaluation.plan(state)
        state.last_grad = None

        def closure() -> float:
            state.last_grad = x.grad = evaluation.absorb(state, plan, k)
            return 0.0  # no loss: an implicit field has no energy to report

        schedule = state.schedule
        if schedule is not None:
            schedule.before(state.optimizer, k)
        (state.optimizer_step or state.optimizer.step)(closure)
        if state.scheduler is not None:
            state.scheduler.step()
        if state.last_grad is None:
            raise RuntimeError(
                f"{type(state.optimizer).__name__}.step did not call its closure; the "
                "Descender needs optimisers that accept step(closure)"
            )
        evaluation.close_step(state, plan, k)
        state.step += 1
        if state.trajectory is not None:
            state.trajectory.append(x.detach().clone())
        return plan


def _step_sizes(
    factory: Any, lr: StepSize | None, steps: int | None
) -> tuple[int, float | None, dict[str, list[float]], Any]:
    """Resolve `lr` and `steps`: the budget, the step the optimiser is built with, the
    per-step table (`{"lr": [...]}` or empty) and the scheduler factory (or `None`)."""
    if is_sequence(lr):
        sizes = check_per_step(
            "lr", lr, None if steps is None else check_int("steps", steps, minimum=1)
        )
        return len(sizes), sizes[0], {"lr": sizes}, None
    k = PAPER_STEPS if steps is None else check_int("steps", steps, minimum=1)
    if lr is None or callable(lr):
        return k, budget_lr(factory, k), {}, lr
    return k, check_real("lr", lr, minimum=0.0), {}, None


def _active_rows(plan: Plan, state: DescentState) -> Tensor:
    """The rows `plan` evaluated, `(B,)` bool."""
    if plan.active is not None:
        return plan.active
    return torch.ones(state.x.shape[0], dtype=torch.bool, device=state.x.device)

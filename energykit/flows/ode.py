"""Fixed-step ODE samplers for flow-matching baselines, integrating $t$ from 0 (noise) to 1.

A velocity model is called `velocity(x, t, **cond)` with `t` of shape `(B,)`, or
`velocity(x, **cond)` when `time_conditional=False` (noise-unconditional flow matching).
Each method is one step; `integrate` owns the loop and counts function evaluations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from energykit._checks import check_batch, check_finite_tensor, check_int, check_real, check_shape

#: A velocity as a step sees it: `v(x, t)` with the conditioning already bound.
VelocityFn = Callable[[Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class ODEResult:
    """Outcome of `integrate`.

    Attributes:
        x: Final state at $t = 1$, `(B, *shape)`.
        nfe: Velocity evaluations per sample (the same for every sample).
        trajectory: With `record=True`, states at every grid time, `(steps + 1, B, *shape)`.
    """

    x: Tensor
    nfe: int
    trajectory: Tensor | None = None


def euler_step(v: VelocityFn, x: Tensor, t: Tensor, h: float) -> tuple[Tensor, int]:
    """$x + h\\, v(x, t)$; one evaluation."""
    return x + h * v(x, t), 1


def heun_step(v: VelocityFn, x: Tensor, t: Tensor, h: float) -> tuple[Tensor, int]:
    """Heun's method (explicit trapezoid): $x + \\tfrac h2 (v(x, t) + v(\\tilde x, t + h))$
    with $\\tilde x = x + h\\, v(x, t)$; two evaluations."""
    v0 = v(x, t)
    v1 = v(x + h * v0, t + h)
    return x + 0.5 * h * (v0 + v1), 2


class AdamsBashforth2:
    """Two-step Adams-Bashforth, $x + h\\,(\tfrac32 v_i - \tfrac12 v_{i-1})$, started with one
    Euler step; one evaluation per step. Holds $v_{i-1}$, so `integrate` builds a fresh one
    per integration (`METHODS["ab2"]` is the class)."""

    def __init__(self) -> None:
        self.previous: Tensor | None = None

    def __call__(self, v: VelocityFn, x: Tensor, t: Tensor, h: float) -> tuple[Tensor, int]:
        current = v(x, t)
        direction = current if self.previous is None else 1.5 * current - 0.5 * self.previous
        self.previous = current
        return x + h * direction, 1


#: One integration step `(v, x, t, h) -> (x_next, evaluations)`.
Step = Callable[[VelocityFn, Tensor, Tensor, float], tuple[Tensor, int]]

#: The methods by name: a step function, or a class whose instances are steps with a memory
#: (multistep methods; one instance per integration).
METHODS: dict[str, Step | type[AdamsBashforth2]] = {
    "euler": euler_step,
    "heun": heun_step,
    "ab2": AdamsBashforth2,
}


@torch.no_grad()
def integrate(
    velocity: Callable[..., Tensor],
    x0: Tensor,
    *,
    steps: int,
    method: str = "euler",
    time_conditional: bool = True,
    record: bool = False,
    t_end: float = 1.0,
    t_start: float = 0.0,
    **cond: Any,
) -> ODEResult:
    """Integrate $\\dot x = v(x, t)$ on a uniform grid from $t = t_{start}$ (default 0) to
    $t = t_{end}$.

    Args:
        velocity: The velocity model.
        x0: Noise at $t = 0$, `(B, *shape)`.
        steps: Number of steps, at least 1.
        method: `"euler"`, `"heun"` (2 evaluations per step) or `"ab2"` (Adams-Bashforth 2).
        time_conditional: Whether `velocity` takes `t`.
        record: Keep the states at every grid time.
        t_end: Final time; 1 normally. Other values give step size `t_end / steps`: the
            step-size robustness study integrates past (or short of) the data end.
        t_start: Start time; a partially noised input $x_t$ whose $t$ is known starts there
            (the grid then has `steps` steps over $[t_{start}, t_{end}]$).
        **cond: Conditioning passed to `velocity`.

    Raises:
        TypeError: `velocity` is not callable, `x0` not a floating tensor, or
            `time_conditional` not a bool.
        ValueError: an empty or non-finite `x0`, a bad `steps`/`method`/time range, or a
            velocity output not shaped like `x0`.
        FloatingPointError: the state became NaN/inf (checked once, at the end).
    """
    x = check_finite_tensor("x0", check_batch("x0", x0))
    steps = check_int("steps", steps, minimum=1)
    step = _check_setup(velocity, time_conditional, method)
    t_end = check_real("t_end", t_end, minimum=0.0, strict=True)
    t_start = check_real("t_start", t_start, minimum=0.0)
    if t_start >= t_end:
        raise ValueError(f"t_start: expected a value below t_end={t_end}, got {t_start}")
    v = _shape_checked(velocity, time_conditional, cond)
    h = (t_end - t_start) / steps
    nfe = 0
    states = [x] if record else None
    for i in range(steps):
        t = torch.full((x.shape[0],), t_start + i * h, dtype=x.dtype, device=x.device)
        x, evals = step(v, x, t, h)
        nfe += evals
        if states is not None:
            states.append(x)
    _check_finite_end(x, steps, method)
    return ODEResult(x=x, nfe=nfe, trajectory=None if states is None else torch.stack(states))


def _check_setup(velocity: object, time_conditional: object, method: str) -> Step:
    """The step function of `method`, after checking the velocity and its time flag."""
    if not callable(velocity):
        raise TypeError(f"velocity: expected a callable, got {type(velocity).__name__}")
    if not isinstance(time_conditional, bool):
        raise TypeError(f"time_conditional: expected a bool, got {type(time_conditional).__name__}")
    if method not in METHODS:
        raise ValueError(f"method: expected one of {sorted(METHODS)}, got {method!r}")
    step = METHODS[method]
    return step() if isinstance(step, type) else step


def _shape_checked(
    velocity: Callable[..., Tensor], time_conditional: bool, cond: dict[str, Any]
) -> Callable[[Tensor, Tensor], Tensor]:
    """`v(z, t)`: the velocity with its conditioning bound, `t` dropped when the model takes
    none, and its output checked to be shaped like `z`."""

    def v(z: Tensor, t: Tensor) -> Tensor:
        out = velocity(z, t, **cond) if time_conditional else velocity(z, **cond)
        return check_shape("velocity output", out, z.shape)

    return v


def _check_finite_end(x: Tensor, steps: int, method: str) -> None:
    """One read-back at the end: the rows whose state became NaN/inf."""
    if not bool(torch.isfinite(x).all()):
        rows = (~torch.isfinite(x)).reshape(x.shape[0], -1).any(dim=1).nonzero().flatten()
        raise FloatingPointError(
            f"integrate: samples became non-finite (NaN/inf) after {steps} {method} steps: "
            f"{rows[:10].tolist()}"
        )


def euler(velocity: Callable[..., Tensor], x0: Tensor, *, steps: int, **kw: Any) -> ODEResult:
    """`integrate` with Euler steps (`steps` evaluations)."""
    return integrate(velocity, x0, steps=steps, method="euler", **kw)


def heun(velocity: Callable[..., Tensor], x0: Tensor, *, steps: int, **kw: Any) -> ODEResult:
    """`integrate` with Heun steps (`2 * steps` evaluations)."""
    return integrate(velocity, x0, steps=steps, method="heun", **kw)

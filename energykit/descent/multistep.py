"""Linear multistep descent: each step reuses the gradients of the steps before it.

With look-ahead $\\mu_k$, step size $\\eta_k$ and history weights $w_{k,0}, \\dots, w_{k,H-1}$,

$$p_k = x_k + \\mu_k (x_k - x_{k-1}), \\qquad g_k = \\nabla E(p_k), \\qquad
x_{k+1} = x_k - \\eta_k \\sum_{j=0}^{\\min(k, H-1)} w_{k,j}\\, g_{k-j}, \\qquad x_{-1} = x_0,$$

one field evaluation per step. Three members of the family have names:

- `order=1`, $\\mu = 0$: gradient descent (`torch.optim.SGD`);
- $H = 1$, $w = 1$: the paper's NAG-GD (`NAGGD`);
- $\\mu = 0$ and the Adams-Bashforth weights of `order` 2-4 (`"ab2"`, `"ab3"`, `"ab4"`):
  the explicit multistep ODE solvers of the gradient flow $\\dot x = -\\nabla E(x)$, started
  with the lower orders while too few gradients exist (as iPNDM does for diffusion models).
  A step of order $q$ is exact for flows whose right-hand side is a polynomial of degree
  $q - 1$ in time; the warm start's first (Euler) step caps the global order at 2, and what
  the higher orders buy at a few steps is a smaller error constant.

A calibrated solver (`energykit.descent.calibrate`) fits $\\eta_k$, $\\mu_k$ and $w_{k,j}$ per
step; it is this optimiser with a weight table of $K$ rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from energykit._checks import check_int, check_real

#: Adams-Bashforth weights by order: $w_j$ multiplies $g_{k-j}$ (newest first).
ADAMS_BASHFORTH: dict[int, tuple[float, ...]] = {
    1: (1.0,),
    2: (3 / 2, -1 / 2),
    3: (23 / 12, -16 / 12, 5 / 12),
    4: (55 / 24, -59 / 24, 37 / 24, -9 / 24),
}


def adams_bashforth(steps: int, order: int) -> list[list[float]]:
    """Per-step weight rows of Adams-Bashforth of `order`, warm-started with the lower orders:
    row $k$ has the weights of order $\\min(k + 1, q)$.

    Raises:
        ValueError: `order` not in 1-4, or `steps < 1`.
    """
    order = check_int("order", order, minimum=1)
    if order not in ADAMS_BASHFORTH:
        raise ValueError(f"order: expected 1, 2, 3 or 4 (Adams-Bashforth), got {order}")
    steps = check_int("steps", steps, minimum=1)
    return [list(ADAMS_BASHFORTH[min(k + 1, order)]) for k in range(steps)]


def check_weights(weights: object) -> list[list[float]]:
    """Require a non-empty sequence of non-empty rows of finite reals.

    Raises:
        TypeError, ValueError: not rows of numbers, an empty table or row, a non-finite value.
    """
    if not isinstance(weights, Sequence) or isinstance(weights, (str, bytes)) or not weights:
        raise ValueError(
            f"Multistep weights: expected a non-empty sequence of rows, got {weights!r}"
        )
    rows: list[list[float]] = []
    for k, row in enumerate(weights):
        if not isinstance(row, Sequence) or isinstance(row, (str, bytes)) or not row:
            raise ValueError(
                f"Multistep weights[{k}]: expected a non-empty row of numbers, got {row!r}"
            )
        rows.append([check_real(f"Multistep weights[{k}][{j}]", w) for j, w in enumerate(row)])
    return rows


class Multistep(Optimizer):
    """Linear multistep descent with an optional look-ahead (see the module docstring).

    Args:
        params: Tensors to optimise (the samples).
        lr: Step size $\\eta$ (a `Descender` may set it per step).
        momentum: Look-ahead $\\mu$; 0 (default) evaluates at $x_k$.
        order: Adams-Bashforth order 1-4, used when `weights` is `None`.
        weights: Per-step history weights, row $k$ for step $k$ (newest gradient first);
            step $k$ uses row $\\min(k, K - 1)$ and its first $\\min(k + 1, \\text{len})$
            entries. Overrides `order`.

    Raises:
        ValueError: `lr` or `momentum` negative, `order` not in 1-4, a malformed `weights`.
    """

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float = 1e-2,
        momentum: float = 0.0,
        order: int = 2,
        weights: Sequence[Sequence[float]] | None = None,
    ) -> None:
        lr = check_real("Multistep lr", lr, minimum=0.0)
        momentum = check_real("Multistep momentum", momentum, minimum=0.0)
        # Adams-Bashforth: rows of order 1 .. `order` (the warm start), then the last repeats.
        table = adams_bashforth(order, order) if weights is None else check_weights(weights)
        super().__init__(params, {"lr": lr, "momentum": momentum})
        #: Whether x_{k-1} is tracked: a per-step schedule may raise `momentum` from 0 later,
        #: so a `Descender` builds the optimiser with its largest look-ahead.
        self.lookahead = momentum > 0
        self.weights = table
        self.history = max(len(row) for row in table)

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One multistep update.

        Args:
            closure: Evaluates the gradient at the current parameter values into `.grad`.
                Required (the gradient is taken at the look-ahead point when $\\mu > 0$).

        Returns:
            Whatever the closure returned.

        Raises:
            ValueError: no closure.
            RuntimeError: the closure left a parameter without `.grad`.

        If the closure raises, the parameters are put back at $x_k$ and the step is not
        counted.
        """
        if closure is None:
            raise ValueError(
                "Multistep.step: expected a closure that evaluates the gradient, got None"
            )
        # Per parameter: `previous` holds x_{k-1} on entry and x_k from the look-ahead on (as
        # in `NAGGD`); it is kept only when a look-ahead can happen (`self.lookahead`).
        moved: list[tuple[Tensor, Tensor]] = []
        for group in self.param_groups:
            mu = group["momentum"]
            for p in group["params"]:
                state = self.state[p]
                if not state:
                    state["step"], state["grads"] = 0, []  # gradients, newest first
                    if self.lookahead or mu:
                        state["previous"] = p.detach().clone()  # x_{-1} = x_0
                previous = state.get("previous")
                if previous is None:
                    continue
                scratch = torch.sub(p, previous).mul_(mu) if mu else None
                previous.copy_(p)  # x_k
                if scratch is not None:
                    p.add_(scratch)  # the look-ahead p_k
                    moved.append((p, previous))
        try:
            with torch.enable_grad():
                result = closure()
            if any(p.grad is None for g in self.param_groups for p in g["params"]):
                raise RuntimeError("Multistep.step: the closure left a parameter without .grad")
        finally:
            for p, previous in moved:
                p.copy_(previous)  # back to x_k (x_{k-1} is overwritten by x_k)
        for group in self.param_groups:
            for p in group["params"]:
                self._update(p, group["lr"])
        return result

    def _update(self, p: Tensor, lr: float) -> None:
        """$x_{k+1} = x_k - \\eta_k \\sum_j w_{k,j} g_{k-j}$, then keep $g_k$ in the history."""
        state = self.state[p]
        k = state["step"]
        grads: list[Tensor] = state["grads"]
        assert p.grad is not None  # checked by `step`
        g = p.grad.detach()
        row = self.weights[min(k, len(self.weights) - 1)]
        terms = [g, *grads][: min(len(row), k + 1)]
        direction = torch.mul(terms[0], row[0])
        for w, h in zip(row[1:], terms[1:], strict=False):  # terms may be shorter (warm start)
            direction.add_(h, alpha=w)
        p.sub_(direction, alpha=lr)
        # The oldest buffer is reused for the newest gradient: no allocation once warm.
        keep = self.history - 1
        if keep:
            if len(grads) < keep:
                grads.insert(0, g.clone())
            else:
                oldest = grads.pop()
                grads.insert(0, oldest.copy_(g))
        state["step"] = k + 1

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state; the history buffers are copied (they are updated in place)."""
        super().load_state_dict(state_dict)
        for state in self.state.values():
            if "previous" in state:
                state["previous"] = state["previous"].clone()
            if "grads" in state:
                state["grads"] = [g.clone() for g in state["grads"]]
            if "step" in state:
                state["step"] = int(state["step"])


__all__ = ["ADAMS_BASHFORTH", "Multistep", "adams_bashforth", "check_weights"]

"""NAG-GD, the paper's Algorithm 2, as a `torch.optim.Optimizer`.

$$p_k = x_k + \\mu (x_k - x_{k-1}), \\qquad x_{k+1} = x_k - \\eta \\nabla E(p_k),
\\qquad x_{-1} = x_0.$$

The gradient is taken at the look-ahead point $p_k$ and the update itself carries no momentum
term, so this is neither `torch.optim.SGD(nesterov=True)` nor textbook Nesterov. Because the
gradient is needed at $p_k$, `step()` requires a closure: it moves the parameters to $p_k$,
calls the closure (which must fill `.grad` there), and then writes $x_{k+1}$. Between steps the
parameters hold $x_k$, never the look-ahead point.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from energykit._checks import check_real

#: Step size and look-ahead of the paper's best EqM-XL/2 sampler (Section 5, FID 1.90), the
#: defaults of `NAGGD`. Import them from `energykit.descent` (or `descent.defaults`, with the
#: rest of the paper's sampler defaults); this module cannot import `defaults`, which imports
#: the `Descender`, which imports this module.
PAPER_LR = 0.0017
PAPER_MOMENTUM = 0.3


class NAGGD(Optimizer):
    """The paper's NAG-GD sampler (Algorithm 2).

    Args:
        params: Tensors to optimise (the samples).
        lr: Step size $\\eta$.
        momentum: Look-ahead coefficient $\\mu$; 0 gives plain gradient descent.
    """

    def __init__(
        self, params: Iterable[Tensor], lr: float = PAPER_LR, momentum: float = PAPER_MOMENTUM
    ) -> None:
        lr = check_real("NAGGD lr", lr, minimum=0.0)
        momentum = check_real("NAGGD momentum", momentum, minimum=0.0)
        super().__init__(params, {"lr": lr, "momentum": momentum})

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One step of Algorithm 2.

        Args:
            closure: Re-evaluates the gradient at the current parameter values and stores it
                in `.grad`. Required: the gradient is taken at the look-ahead point.

        Returns:
            Whatever the closure returned.

        Raises:
            ValueError: no closure.
            RuntimeError: the closure left a parameter without `.grad`.

        If the closure raises (or leaves a `.grad` unset), the parameters are put back to
        $x_k$ before the error propagates; $x_{k-1}$ is lost, so a next step takes no
        look-ahead.
        """
        if closure is None:
            raise ValueError(
                "NAGGD.step: expected a closure that evaluates the gradient at the look-ahead "
                "point (Algorithm 2), got None"
            )
        # Per parameter: `previous` holds x_{k-1} on entry and x_k from the look-ahead on, and
        # one scratch tensor carries mu (x_k - x_{k-1}) and then lr grad: the same elementwise
        # operations as the maths above, without a copy of x_k per step.
        current: list[tuple[Tensor, Tensor, Tensor, float]] = []
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                if "previous" not in state:
                    state["previous"] = p.detach().clone()  # x_{-1} = x_0
                previous = state["previous"]
                scratch = torch.sub(p, previous).mul_(group["momentum"])
                previous.copy_(p)  # x_k
                p.add_(scratch)  # the look-ahead p_k
                current.append((p, previous, scratch, group["lr"]))
        try:
            with torch.enable_grad():
                result = closure()
            if any(p.grad is None for p, *_ in current):
                raise RuntimeError("NAGGD.step: the closure left a parameter without .grad")
        except BaseException:
            for p, previous, *_ in current:
                p.copy_(previous)  # back to x_k (x_{k-1} is gone: the next step has no look-ahead)
            raise
        for p, previous, scratch, lr in current:
            assert p.grad is not None  # checked above
            torch.sub(previous, torch.mul(p.grad, lr, out=scratch), out=p)  # x_{k+1}
        return result

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state; `step` updates x_{k-1} in place, so the loaded tensors are copied (torch
        would share them with `state_dict` when dtype and device match, and two optimisers
        loaded from one state would then step each other's history)."""
        super().load_state_dict(state_dict)
        for state in self.state.values():
            if "previous" in state:
                state["previous"] = state["previous"].clone()

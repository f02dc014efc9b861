"""Calling `optimizer.step(closure)` once per descent step, at the cost of the step alone.

`torch.optim.Optimizer` wraps every subclass's `step` in a profiler scope and a walk over the
step hooks (`Optimizer.profile_hook_step`): on a small field that is a few microseconds per
step, as much as the update itself. When no hook is registered (on the optimiser or globally),
no profiler runs and the optimiser's class was wrapped the usual way, `OptimizerStep` calls
the wrapped function directly: the same `step`, the same maths and state, minus the scope.
Otherwise (checked at every call, so a hook registered mid-descent is honoured) it calls
`optimizer.step` as usual.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.optim import Optimizer
from torch.optim import optimizer as _torch_optimizer

Closure = Callable[[], Any]


class OptimizerStep:
    """`optimizer.step(closure)`, without torch's per-call profiler scope when nothing can
    observe it.

    Args:
        optimizer: The optimiser.
    """

    def __init__(self, optimizer: Optimizer) -> None:
        self.optimizer = optimizer
        step = type(optimizer).step
        plain = getattr(step, "hooked", False) and "step" not in vars(optimizer)
        self.bare: Callable[..., Any] | None = getattr(step, "__wrapped__", None) if plain else None

    def __call__(self, closure: Closure) -> Any:
        opt, bare = self.optimizer, self.bare
        if bare is None or _observed(opt):
            return opt.step(closure)
        return bare(opt, closure)


def _observed(opt: Optimizer) -> bool:
    """Whether a step hook or a profiler would see the difference."""
    return bool(
        getattr(opt, "_optimizer_step_pre_hooks", True)
        or getattr(opt, "_optimizer_step_post_hooks", True)
        or getattr(_torch_optimizer, "_global_optimizer_pre_hooks", True)
        or getattr(_torch_optimizer, "_global_optimizer_post_hooks", True)
        or torch.autograd._profiler_enabled()
    )

"""`NAGGD` as a `torch.optim.Optimizer` on its own: its state (x_{k-1}) survives
`load_state_dict` forks, and a failed closure leaves the parameters at x_k."""

from __future__ import annotations

import pytest
import torch

import energykit as ek
from energykit.fields import Quadratic
from tests.helpers import random_spd

LR, MU = 0.1, 0.5


def _field() -> Quadratic:
    return Quadratic(random_spd(3, 7))


def _step(opt: ek.NAGGD, x: torch.Tensor, field: Quadratic) -> None:
    def closure() -> float:
        x.grad = field.gradient(x.detach())
        return 0.0

    opt.step(closure)


def _algorithm2(field: Quadratic, x0: torch.Tensor, n: int) -> torch.Tensor:
    """The paper's Algorithm 2, written from the maths."""
    x_prev, x = x0.clone(), x0.clone()
    for _ in range(n):
        x_prev, x = x, x - LR * field.gradient(x + MU * (x - x_prev))
    return x


def test_two_optimisers_loaded_from_one_state_follow_the_uninterrupted_run():
    # torch shares loaded state tensors with the state dict when dtype and device match, and
    # NAGGD updates x_{k-1} in place: each loaded optimiser must own its copy.
    field = _field()
    x0 = torch.randn(4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    x = x0.clone()
    opt = ek.NAGGD([x], lr=LR, momentum=MU)
    for _ in range(3):
        _step(opt, x, field)
    saved = opt.state_dict()
    forks = [x.clone(), x.clone()]
    fork_opts = []
    for y in forks:
        fork_opts.append(ek.NAGGD([y], lr=LR, momentum=MU))
        fork_opts[-1].load_state_dict(saved)
    for _ in range(3):
        _step(opt, x, field)
    for y, fork_opt in zip(forks, fork_opts, strict=True):
        for _ in range(3):
            _step(fork_opt, y, field)
    expected = _algorithm2(field, x0, 6)
    assert torch.equal(x, expected)
    assert all(torch.equal(y, expected) for y in forks)


def _failing_closure() -> float:
    raise ArithmeticError("the field failed")


def _closure_without_grad(x: torch.Tensor):
    def closure() -> float:
        x.grad = None
        return 0.0

    return closure


@pytest.mark.parametrize("failure", ["raises", "no grad"])
def test_failed_closure_leaves_the_parameters_at_x_k(failure):
    field = _field()
    x = torch.randn(4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    opt = ek.NAGGD([x], lr=LR, momentum=MU)
    for _ in range(2):
        _step(opt, x, field)
    x_k = x.clone()
    if failure == "raises":
        with pytest.raises(ArithmeticError, match="the field failed"):
            opt.step(_failing_closure)
    else:
        with pytest.raises(RuntimeError, match=r"NAGGD\.step: the closure left a parameter"):
            opt.step(_closure_without_grad(x))
    assert torch.equal(x, x_k)  # never the look-ahead point between steps
    # x_{k-1} is gone: the next step is a plain gradient step from x_k.
    _step(opt, x, field)
    assert torch.equal(x, x_k - LR * field.gradient(x_k))

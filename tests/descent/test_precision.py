"""Descent with the network in low precision and the state in the caller's dtype.

Oracles: a hand-written SGD loop that applies the same casts (bit-exact); the float32 descent
(within a tolerance that bfloat16's 8-bit mantissa explains).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import energykit as ek
from energykit.fields import LowPrecision, Quadratic

# bfloat16 keeps 8 bits of mantissa (relative rounding 2^-9 ~ 2e-3 per operation); over a
# 60-step descent of a small MLP the end points stay within 1e-2 of the float32 run, while
# the descent itself moves them by ~50% (checked below, so the tolerance is not vacuous).
BF16_RTOL = 1e-2
LR, STEPS = 0.05, 60


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(2, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 2)
    )


def _x0() -> torch.Tensor:
    return torch.randn(32, 2, generator=torch.Generator().manual_seed(1))


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


HEADS = [pytest.param(ek.ImplicitField, id="implicit"), pytest.param(ek.DotEnergy, id="dot")]


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("opt", ["gd", "nag"])
@pytest.mark.parametrize("how", ["autocast", "weights"])
def test_bf16_network_matches_float32_descent(head, opt, how):
    field, x0 = head(_net()), _x0()
    ref = ek.Descender(field, opt, lr=LR, steps=STEPS).run(x0)
    low = LowPrecision(field, torch.bfloat16) if how == "weights" else field
    d = ek.Descender(low, opt, lr=LR, steps=STEPS)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=how == "autocast"):
        state = d.start(x0)
        while not state.done:
            d.step(state)
    got = state.result()
    assert got.x.dtype == torch.float32 and got.grad_norm.dtype == torch.float32
    for value in state.optimizer.state[state.x].values():  # NAG-GD's previous iterate
        assert value.dtype == torch.float32
    assert _rel(ref.x, x0) > 0.3  # the descent moved far
    assert _rel(got.x, ref.x) < BF16_RTOL
    assert torch.equal(got.nfe, ref.nfe) and torch.equal(got.steps, ref.steps)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float64])
def test_low_precision_sgd_is_the_hand_loop_with_casts(dtype):
    # Oracle: x_{k+1} = x_k - lr * float32(net_low(low(x_k))), the update in float32.
    field, x0 = ek.ImplicitField(_net()), _x0()
    low = LowPrecision(field, dtype)
    got = ek.Descender(low, "gd", lr=LR, steps=STEPS).run(x0).x
    net = low.field.net
    x = x0.clone()
    with torch.no_grad():
        for _ in range(STEPS):
            x = torch.add(x, net(x.to(dtype)).float(), alpha=-LR)
    assert torch.equal(got, x)


def test_small_steps_are_not_rounded_away():
    # A step of 1e-5 on x ~ 1 is below bfloat16's resolution (2^-8): a bf16 state would not
    # move at all; the float32 state moves by exactly what float32 arithmetic gives.
    field = LowPrecision(ek.ImplicitField(nn.Linear(2, 2, bias=False)), torch.bfloat16)
    with torch.no_grad():
        field.field.net.weight.copy_(torch.eye(2))
    x0 = torch.ones(4, 2)
    got = ek.Descender(field, "gd", lr=1e-5, steps=3).run(x0).x
    want = x0.clone()
    for _ in range(3):
        want = torch.add(want, want.bfloat16().float(), alpha=-1e-5)
    assert torch.equal(got, want) and not torch.equal(got, x0)


def test_low_precision_copies_and_keeps_the_callers_field():
    field = ek.DotEnergy(_net())
    low = LowPrecision(field, torch.bfloat16)
    assert next(field.parameters()).dtype == torch.float32
    assert next(low.parameters()).dtype == torch.bfloat16
    assert low.has_energy and "bfloat16" in low.label
    x = _x0()
    assert low.energy(x).dtype == torch.float32 and low.gradient(x).dtype == torch.float32
    assert not LowPrecision(ek.ImplicitField(_net())).has_energy


def test_low_precision_in_compositions_and_guidance_accepts_float32_samples():
    net = ek.nets.MLP(dim=2, width=16, depth=1, num_classes=3)
    low = LowPrecision(ek.ImplicitField(net.float()), torch.bfloat16)
    guided = ek.Guided(low, 1.5, 3)
    x0 = _x0()[:6]
    result = ek.Descender(guided, "gd", lr=0.1, steps=3).run(x0, y=torch.arange(6) % 3)
    assert result.x.dtype == torch.float32 and torch.isfinite(result.x).all()


def test_bad_low_precision_arguments_are_named():
    with pytest.raises(ValueError, match="holds no network"):
        LowPrecision(Quadratic(torch.eye(2)), torch.bfloat16)
    with pytest.raises(TypeError, match="LowPrecision dtype: expected one of"):
        LowPrecision(ek.ImplicitField(_net()), torch.int8)
    with pytest.raises(TypeError, match="expected an EnergyField"):
        LowPrecision(_net(), torch.bfloat16)  # type: ignore[arg-type]


def test_bf16_weights_without_the_wrapper_still_ask_for_a_cast():
    field = ek.ImplicitField(_net().to(torch.bfloat16))
    with pytest.raises(TypeError, match=r"x0: dtype torch.float32 does not match"):
        ek.Descender(field, "gd", lr=LR, steps=2).run(_x0())

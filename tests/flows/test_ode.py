"""ODE samplers on closed-form flows."""

from __future__ import annotations

import pytest
import torch

from energykit.flows import euler, heun, integrate


def test_euler_and_heun_on_linear_flow():
    x0 = torch.randn(4, 3, dtype=torch.float64)
    n, h = 10, 0.1
    e = euler(lambda x, t: x, x0, steps=n)
    torch.testing.assert_close(e.x, (1 + h) ** n * x0)
    hh = heun(lambda x, t: x, x0, steps=n)
    torch.testing.assert_close(hh.x, (1 + h + h * h / 2) ** n * x0)
    assert (e.nfe, hh.nfe) == (10, 20)


def test_exact_velocity_to_a_point_lands_on_it():
    # Data = one point x*: the flow-matching velocity is (x* - x) / (1 - t), and Euler's last step
    # (h / (1 - t) = 1) lands exactly on x*.
    target = torch.tensor([[1.5, -2.0]], dtype=torch.float64)
    x0 = torch.randn(5, 2, dtype=torch.float64)
    out = euler(lambda x, t: (target - x) / (1 - t[:, None]), x0, steps=8, record=True)
    torch.testing.assert_close(out.x, target.expand(5, 2), rtol=1e-12, atol=1e-12)
    assert out.trajectory is not None and out.trajectory.shape == (9, 5, 2)


def test_time_grid_and_unconditional_nets():
    times = []
    integrate(lambda x, t: times.append(float(t[0])) or x * 0, torch.zeros(2, 1), steps=4)
    assert times == [0.0, 0.25, 0.5, 0.75]
    out = integrate(
        lambda x: torch.ones_like(x), torch.zeros(2, 1), steps=4, time_conditional=False
    )
    torch.testing.assert_close(out.x, torch.ones(2, 1))


def test_bad_arguments():
    with pytest.raises(ValueError, match="method: expected one of"):
        integrate(lambda x, t: x, torch.zeros(1, 1), steps=1, method="rk4")
    with pytest.raises(ValueError, match="steps: expected an int >= 1"):
        euler(lambda x, t: x, torch.zeros(1, 1), steps=0)


def test_t_end_scales_the_step_and_the_time_grid():
    seen = []

    def v(x, t):
        seen.append(float(t[0]))
        return torch.ones_like(x)

    x0 = torch.zeros(3, 2, dtype=torch.float64)
    out = integrate(v, x0, steps=4, t_end=2.0)
    torch.testing.assert_close(out.x, torch.full_like(x0, 2.0), rtol=0, atol=1e-15)
    assert seen == [0.0, 0.5, 1.0, 1.5]
    with pytest.raises(ValueError, match="t_end"):
        integrate(v, x0, steps=4, t_end=0.0)


def test_t_start_integrates_the_remaining_interval():
    # v = x: x(1) = x(t0) * exp(1 - t0); Euler with k steps of h = (1 - t0)/k gives (1 + h)^k.
    from energykit.flows import integrate

    x0 = torch.ones(2, 3, dtype=torch.float64)
    res = integrate(lambda x, t: x, x0, steps=4, t_start=0.5)
    torch.testing.assert_close(res.x, x0 * (1 + 0.125) ** 4)
    seen = []
    integrate(lambda x, t: seen.append(float(t[0])) or x, x0, steps=4, t_start=0.5)
    assert seen == [0.5, 0.625, 0.75, 0.875]
    with pytest.raises(ValueError, match="t_start: expected a value below t_end"):
        integrate(lambda x, t: x, x0, steps=4, t_start=1.0)


def test_ab2_is_the_two_step_adams_bashforth_loop():
    # dx/dt = t x (a time-conditional velocity) from hand-written AB2 with an Euler start.
    def v(x, t):
        return t[:, None] * x

    x0 = torch.randn(3, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    steps, h = 6, 1 / 6
    x, prev = x0.clone(), None
    for i in range(steps):
        cur = (i * h) * x
        x = x + h * (cur if prev is None else 1.5 * cur - 0.5 * prev)
        prev = cur
    res = integrate(v, x0, steps=steps, method="ab2")
    torch.testing.assert_close(res.x, x, rtol=0, atol=1e-15)
    assert res.nfe == steps  # one evaluation per step
    # A fresh memory per integration: the same call twice gives the same answer.
    torch.testing.assert_close(integrate(v, x0, steps=steps, method="ab2").x, res.x, rtol=0, atol=0)

"""Adaptive compute: per-sample stopping that really saves field evaluations."""

from __future__ import annotations

import torch

import energykit as ek
from energykit.fields import Quadratic
from tests.helpers import Counting, tiny_mlp


class DiagonalBowls(ek.EnergyField):
    """Sample i sits in its own bowl E_i(x) = c_i/2 ||x||^2 (curvature per row)."""

    def __init__(self, curvature: torch.Tensor) -> None:
        super().__init__()
        self.curvature = curvature

    def gradient(self, x, *, row):
        return self.curvature[row][:, None] * x


def test_samples_of_different_curvature_stop_at_different_steps():
    curvature = torch.tensor([0.2, 1.0, 3.0, 8.0], dtype=torch.float64)
    field = Counting(DiagonalBowls(curvature))
    x0 = torch.ones(4, 2, dtype=torch.float64)
    g_min = 1e-3
    result = ek.Descender(field, "gd", lr=0.1, steps=500, g_min=g_min, record=True).run(
        x0, row=torch.arange(4)
    )
    # Oracle: gd on c/2 ||x||^2 gives x_k = (1 - lr c)^k x0 and gradient c x_k; a sample stops at
    # the first k with ||c x_k|| < g_min and is not moved at that step.
    for i, c in enumerate(curvature.tolist()):
        k = 0
        while c * abs(1 - 0.1 * c) ** k * 2**0.5 >= g_min:
            k += 1
        assert int(result.steps[i]) == k
        assert int(result.nfe[i]) == k + 1
    assert len(set(result.steps.tolist())) == 4
    assert bool(result.converged.all())
    assert (result.grad_norm < g_min).all()
    # The field saw exactly the active rows, and never a stopped one again.
    assert sum(field.calls) == result.nfe_total
    active = (result.nfe[None, :] > torch.arange(len(field.calls))[:, None]).sum(1)
    assert field.calls == active.tolist()
    # Stopped rows stay bit-identical from their stopping step on.
    traj = result.trajectory
    assert traj is not None
    for i in range(4):
        k = int(result.steps[i])
        assert (traj[k:, i] == traj[k, i]).all()


def test_stopped_rows_stay_frozen_under_momentum_optimisers():
    A = torch.diag(torch.tensor([0.1, 5.0], dtype=torch.float64))
    x0 = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    for name in ["adam", "nag"]:
        result = ek.Descender(Quadratic(A), name, lr=0.05, steps=300, g_min=0.05, record=True).run(
            x0
        )
        traj = result.trajectory
        assert traj is not None
        for i in range(2):
            if bool(result.converged[i]):
                k = int(result.steps[i])
                assert (traj[k:, i] == traj[k, i]).all(), name


def test_conditioning_follows_the_active_rows():
    field = Counting(ek.ImplicitField(tiny_mlp(2, 0, num_classes=4)))
    y = torch.tensor([0, 1, 2, 3, 0, 1])
    x0 = torch.randn(6, 2, dtype=torch.float64)
    adaptive = ek.Descender(field, "gd", lr=0.1, steps=30, g_min=0.3).run(x0, y=y)
    assert not bool(adaptive.converged.all()) and bool(adaptive.converged.any())
    # Replay each row alone, with its own label: identical steps and final points.
    for i in range(6):
        alone = ek.Descender(field.inner, "gd", lr=0.1, steps=30, g_min=0.3).run(
            x0[i : i + 1], y=y[i : i + 1]
        )
        torch.testing.assert_close(alone.x, adaptive.x[i : i + 1], rtol=1e-12, atol=1e-12)
        assert int(alone.steps[0]) == int(adaptive.steps[i])


def test_without_g_min_every_sample_runs_every_step():
    field = Quadratic(torch.eye(2, dtype=torch.float64))
    result = ek.Descender(field, "gd", lr=0.5, steps=9).run(torch.ones(3, 2, dtype=torch.float64))
    assert result.steps.tolist() == [9, 9, 9] and not bool(result.converged.any())

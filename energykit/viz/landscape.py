"""2-D landscapes: descent streamlines, energy contours, trajectories, adaptive-compute steps."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from energykit.fields import EnergyField


def _grid(lim: float, n: int) -> tuple[Tensor, Tensor, Tensor]:
    axis = torch.linspace(-lim, lim, n)
    gx, gy = torch.meshgrid(axis, axis, indexing="xy")
    return gx, gy, torch.stack([gx.flatten(), gy.flatten()], dim=1)


def plot_streamlines(
    ax: Any, field: EnergyField, *, lim: float = 3.0, n: int = 41, **cond: Any
) -> None:
    """Streamlines of the descent direction $-\\nabla E$ on `[-lim, lim]^2`, coloured by speed."""
    gx, gy, pts = _grid(lim, n)
    with torch.no_grad():
        g = field.gradient(pts, **cond)
    u, v = (-g[:, 0]).reshape(gx.shape), (-g[:, 1]).reshape(gx.shape)
    speed = torch.sqrt(u**2 + v**2)
    ax.streamplot(
        gx.numpy(),
        gy.numpy(),
        u.numpy(),
        v.numpy(),
        color=speed.numpy(),
        cmap="viridis",
        density=1.2,
    )
    ax.set(
        xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", title="descent direction $-\\nabla E$"
    )


def plot_energy(
    ax: Any, field: EnergyField, *, lim: float = 3.0, n: int = 101, **cond: Any
) -> None:
    """Filled contours of $E$ (explicit fields only; implicit ones raise `NoEnergyError`)."""
    gx, gy, pts = _grid(lim, n)
    with torch.no_grad():
        e = field.energy(pts, **cond).reshape(gx.shape)
    cs = ax.contourf(gx.numpy(), gy.numpy(), e.numpy(), levels=30, cmap="magma")
    ax.figure.colorbar(cs, ax=ax, shrink=0.8)
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", title="energy $E$")


def plot_trajectories(ax: Any, trajectory: Tensor, *, max_paths: int = 64) -> None:
    """Paths of a recorded descent, `trajectory` `(T, B, 2)` (from `record=True`)."""
    if trajectory.ndim != 3 or trajectory.shape[2] != 2:
        raise ValueError(f"trajectory: expected (T, B, 2), got {tuple(trajectory.shape)}")
    paths = trajectory[:, :max_paths].detach().cpu()
    for i in range(paths.shape[1]):
        ax.plot(paths[:, i, 0], paths[:, i, 1], lw=0.6, alpha=0.7)
    ax.scatter(paths[0, :, 0], paths[0, :, 1], s=6, c="0.5", label="start")
    ax.scatter(paths[-1, :, 0], paths[-1, :, 1], s=6, c="C3", label="end")
    ax.set(aspect="equal", title="descent trajectories")
    ax.legend(loc="upper right", fontsize=8)


def plot_steps_histogram(ax: Any, steps: Tensor, *, budget: int | None = None) -> None:
    """Histogram of per-sample steps under adaptive compute (`DescentResult.steps`)."""
    s = steps.detach().cpu()
    ax.hist(s.numpy(), bins=min(40, max(1, int(s.max()) - int(s.min()) + 1)), color="C0")
    if budget is not None:
        ax.axvline(budget, color="C3", ls="--", label=f"fixed budget {budget}")
        ax.legend(fontsize=8)
    ax.set(
        xlabel="steps until $\\|\\nabla E\\| < g_{min}$",
        ylabel="samples",
        title=f"adaptive compute (mean {float(s.double().mean()):.1f} steps)",
    )

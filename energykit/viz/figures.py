"""Whole figures written to a file: the 2-D landscape of a model (samples, descent field,
adaptive-compute steps), as drawn by `energykit plot` and the toy demo."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import Tensor

from energykit.fields import EnergyField
from energykit.viz._mpl import pyplot
from energykit.viz.landscape import plot_steps_histogram, plot_streamlines


def save_landscape(
    path: str | Path,
    samples: Tensor,
    *,
    field: EnergyField | None = None,
    data: Tensor | None = None,
    steps: Tensor | None = None,
    budget: int | None = None,
    lim: float = 3.0,
    title: str = "samples",
    **cond: Any,
) -> Path:
    """Save one row of panels for a 2-D model as a PNG.

    Panels, left to right: the samples (over `data` in grey when given); the descent
    direction $-\\nabla E$ of `field` when given (flow-matching models have none); the
    histogram of per-sample steps when `steps` is given (draw it only for a descent with
    adaptive compute, `g_min` set: under a fixed budget every sample takes the same steps).

    Args:
        path: Output file; its folder is created.
        samples: Points `(n, 2)`.
        field: The learned field, for the streamline panel.
        data: Reference points `(m, 2)` drawn under the samples.
        steps: Per-sample steps `(n,)` (`DescentResult.steps`).
        budget: Step budget, marked on the histogram.
        lim: Half-width of the square every panel shows.
        title: Title of the samples panel.
        **cond: Conditioning passed to `field.gradient`.

    Returns:
        `path` as a `Path`.

    Raises:
        ValueError: `samples` or `data` is not `(n, 2)`.
    """
    _check_points("samples", samples)
    if data is not None:
        _check_points("data", data)
    plt = pyplot()
    panels = 1 + (field is not None) + (steps is not None)
    fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 4.8), squeeze=False)
    ax = list(axes[0])
    _scatter(ax.pop(0), samples, data, lim, title)
    if field is not None:
        plot_streamlines(ax.pop(0), field, lim=lim, **cond)
    if steps is not None:
        plot_steps_histogram(ax.pop(0), steps, budget=budget)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _scatter(ax: Any, samples: Tensor, data: Tensor | None, lim: float, title: str) -> None:
    """Samples in red over the data in grey, on `[-lim, lim]^2`."""
    if data is not None:
        ax.scatter(*data.detach().cpu().T, s=2, c="0.75", label="data")
    ax.scatter(*samples.detach().cpu().T, s=2, c="C3", label="samples")
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", title=title)
    if data is not None:
        ax.legend(loc="upper right", markerscale=4, fontsize=8)


def _check_points(name: str, x: Tensor) -> None:
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"save_landscape {name}: expected points (n, 2), got {tuple(x.shape)}")

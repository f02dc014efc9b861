"""Plots (needs the `plot` extra): sample grids, 2-D descent streamlines and energy contours,
descent trajectories, the per-sample steps histogram of adaptive compute, quality against
NFE, the figures of
`energykit plot` and the demos; and the one Markdown table writer (no extra needed)."""

from energykit.viz._mpl import pyplot
from energykit.viz.curves import plot_quality_vs_nfe
from energykit.viz.figures import save_landscape
from energykit.viz.grids import image_grid, save_samples
from energykit.viz.landscape import (
    plot_energy,
    plot_steps_histogram,
    plot_streamlines,
    plot_trajectories,
)
from energykit.viz.tables import markdown_table

__all__ = [
    "image_grid",
    "markdown_table",
    "plot_energy",
    "plot_quality_vs_nfe",
    "plot_steps_histogram",
    "plot_streamlines",
    "plot_trajectories",
    "pyplot",
    "save_landscape",
    "save_samples",
]

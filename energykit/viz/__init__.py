"""Plots (needs the `plot` extra): sample grids, 2-D descent streamlines and energy contours,
descent trajectories, and the per-sample steps histogram of adaptive compute."""

from energykit.viz._mpl import pyplot
from energykit.viz.grids import image_grid, save_samples
from energykit.viz.landscape import (
    plot_energy,
    plot_steps_histogram,
    plot_streamlines,
    plot_trajectories,
)

__all__ = [
    "image_grid",
    "plot_energy",
    "plot_steps_histogram",
    "plot_streamlines",
    "plot_trajectories",
    "pyplot",
    "save_samples",
]

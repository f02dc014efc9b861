"""Plots render; the image grid places every image where it belongs."""

from __future__ import annotations

import torch

import energykit as ek
from energykit.viz import (
    image_grid,
    plot_energy,
    plot_steps_histogram,
    plot_streamlines,
    plot_trajectories,
    pyplot,
    save_samples,
)


def test_image_grid_layout_is_exact():
    x = torch.stack([torch.full((1, 2, 3), v) for v in (-1.0, 0.0, 1.0)])
    grid = image_grid(x, nrow=2, pad=1)
    assert grid.shape == (2 * 3 + 1, 2 * 4 + 1, 1)
    assert torch.equal(grid[1:3, 1:4, 0], torch.zeros(2, 3))
    assert torch.equal(grid[1:3, 5:8, 0], torch.full((2, 3), 0.5))
    assert torch.equal(grid[4:6, 1:4, 0], torch.ones(2, 3))
    assert torch.equal(grid[0], torch.ones_like(grid[0]))  # padding is white


def test_landscape_plots_render(tmp_path):
    plt = pyplot()
    field = ek.fields.GaussianMixture(torch.randn(3, 2), 0.5)
    result = ek.Descender(field, "nag", lr=0.05, steps=20, g_min=0.1, record=True).run(
        torch.randn(30, 2)
    )
    fig, ax = plt.subplots(1, 4, figsize=(16, 4))
    plot_streamlines(ax[0], field)
    plot_energy(ax[1], field)
    plot_trajectories(ax[2], result.trajectory)
    plot_steps_histogram(ax[3], result.steps, budget=20)
    fig.savefig(tmp_path / "f.png")
    assert (tmp_path / "f.png").stat().st_size > 10_000
    assert save_samples(torch.randn(50, 2), tmp_path / "s.png").is_file()

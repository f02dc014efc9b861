"""Plots render; the image grid places every image where it belongs; the landscape figure
has one panel per thing it was given."""

from __future__ import annotations

import pytest
import torch

import energykit as ek
from energykit.viz import (
    image_grid,
    plot_energy,
    plot_steps_histogram,
    plot_streamlines,
    plot_trajectories,
    pyplot,
    save_landscape,
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


def _panels(path):
    """Number of axes of the figure `save_landscape` would draw, read from the saved width."""
    from PIL import Image

    with Image.open(path) as img:
        return round(img.width / (5 * 110))


@pytest.mark.parametrize(("with_field", "with_steps", "panels"), [(0, 0, 1), (1, 0, 2), (1, 1, 3)])
def test_landscape_figure_has_a_panel_per_input(tmp_path, with_field, with_steps, panels):
    field = ek.fields.GaussianMixture(torch.randn(3, 2), 0.5)
    result = ek.Descender(field, "nag", lr=0.05, steps=20, g_min=0.1).run(torch.randn(30, 2))
    path = save_landscape(
        tmp_path / "sub" / "l.png",
        result.x,
        field=field if with_field else None,
        data=torch.randn(40, 2),
        steps=result.steps if with_steps else None,
        budget=20,
    )
    assert path.stat().st_size > 5_000
    assert _panels(path) == panels


def test_landscape_refuses_non_2d_points(tmp_path):
    with pytest.raises(ValueError, match=r"samples: expected points \(n, 2\), got \(4, 3\)"):
        save_landscape(tmp_path / "l.png", torch.randn(4, 3))


def test_save_samples_reads_uint8_channels_last_images(tmp_path):
    x = torch.randint(0, 256, (4, 8, 8, 3), dtype=torch.uint8)
    assert save_samples(x, tmp_path / "u8.png").stat().st_size > 1_000

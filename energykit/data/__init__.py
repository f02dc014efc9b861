"""Data: seeded 2-D toy distributions and small bundled image datasets (no downloads)."""

from energykit.data.images import IMAGE_DATASETS, ImageSplit, load_images, mnist_5k_path
from energykit.data.toy2d import TOY_DISTRIBUTIONS, eight_gaussians_modes, sample_toy

__all__ = [
    "IMAGE_DATASETS",
    "TOY_DISTRIBUTIONS",
    "ImageSplit",
    "eight_gaussians_modes",
    "load_images",
    "mnist_5k_path",
    "sample_toy",
]

"""Data: seeded 2-D toy distributions, small bundled image datasets (no downloads) and
class-per-folder image datasets with the ADM centre crop; one list of dataset names."""

from energykit.data.folder import ImageFolder, center_crop_adm
from energykit.data.images import IMAGE_DATASETS, ImageSplit, load_images, mnist_5k_path
from energykit.data.registry import (
    DATASET_NAMES,
    DATASETS,
    LATENTS,
    DatasetInfo,
    dataset_info,
)
from energykit.data.toy2d import TOY_DISTRIBUTIONS, eight_gaussians_modes, sample_toy

__all__ = [
    "DATASETS",
    "DATASET_NAMES",
    "IMAGE_DATASETS",
    "LATENTS",
    "TOY_DISTRIBUTIONS",
    "DatasetInfo",
    "ImageFolder",
    "ImageSplit",
    "center_crop_adm",
    "dataset_info",
    "eight_gaussians_modes",
    "load_images",
    "mnist_5k_path",
    "sample_toy",
]

"""Data: seeded 2-D toy distributions, small bundled image datasets (no downloads), local
image files (a folder of PNG/JPEG, CIFAR-10's binary release) read by keyed items, and
class-per-folder image datasets with the ADM centre crop; one list of dataset names."""

from energykit.data.cifar10 import Cifar10
from energykit.data.folder import ImageFolder, center_crop_adm
from energykit.data.image_files import FolderImages
from energykit.data.images import IMAGE_DATASETS, ImageSplit, load_images, mnist_5k_path
from energykit.data.keyed import KeyedImages, stack_items
from energykit.data.local import FILE_DATASETS, LocalSplit, open_local
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
    "FILE_DATASETS",
    "IMAGE_DATASETS",
    "LATENTS",
    "TOY_DISTRIBUTIONS",
    "Cifar10",
    "DatasetInfo",
    "FolderImages",
    "ImageFolder",
    "ImageSplit",
    "KeyedImages",
    "LocalSplit",
    "center_crop_adm",
    "dataset_info",
    "eight_gaussians_modes",
    "load_images",
    "mnist_5k_path",
    "open_local",
    "sample_toy",
    "stack_items",
]

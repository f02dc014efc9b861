"""Every dataset name, in one list derived from the loaders: the image loaders'
(`IMAGE_DATASETS`), the local image files (`FILE_DATASETS`: a folder, CIFAR-10), cached VAE
latents, and the 2-D toy distributions (`TOY_DISTRIBUTIONS`).

Adding a toy distribution or an image dataset to its loader adds it here, to the training
config (`data.name`) and to `energykit evaluate --data`; nothing else lists names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from energykit.data.images import IMAGE_DATASETS
from energykit.data.local import FILE_DATASETS
from energykit.data.toy2d import TOY_DISTRIBUTIONS

#: The name of cached VAE latents (a folder written by `energykit latents`).
LATENTS = "latents"

DatasetFamily = Literal["images", "files", "latents", "toy"]


@dataclass(frozen=True)
class DatasetInfo:
    """What the rest of the toolkit needs to know about a dataset name.

    Attributes:
        name: The name a recipe uses (`data.name`).
        family: `images` (bundled labelled images), `files` (local image files at
            `data.path`, read item by item), `latents` (a latent folder) or `toy` (a seeded
            2-D distribution).
    """

    name: str
    family: DatasetFamily

    @property
    def images(self) -> bool:
        """Samples are images `(C, H, W)`, labelled unless a flat folder (all but toys)."""
        return self.family != "toy"

    @property
    def named_heldout(self) -> bool:
        """A held-out split can be rebuilt from the name alone (not for local files)."""
        return self.family not in ("files", "latents")


#: Every dataset, by name: image datasets, local files, latents, then the toy distributions.
DATASETS: dict[str, DatasetInfo] = {
    **{name: DatasetInfo(name, "images") for name in IMAGE_DATASETS},
    **{name: DatasetInfo(name, "files") for name in FILE_DATASETS},
    LATENTS: DatasetInfo(LATENTS, "latents"),
    **{name: DatasetInfo(name, "toy") for name in TOY_DISTRIBUTIONS},
}

#: Every dataset name, in `DATASETS` order.
DATASET_NAMES: tuple[str, ...] = tuple(DATASETS)


def dataset_info(name: str) -> DatasetInfo:
    """The entry of `name`.

    Raises:
        ValueError: `name` is not a dataset; the message lists the names.
    """
    info = DATASETS.get(name) if isinstance(name, str) else None
    if info is None:
        raise ValueError(
            f"data.name: expected one of {', '.join(map(repr, DATASET_NAMES))}, got {name!r}"
        )
    return info


__all__ = ["DATASETS", "DATASET_NAMES", "LATENTS", "DatasetInfo", "dataset_info"]

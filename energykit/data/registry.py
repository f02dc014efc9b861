"""Every dataset name, in one list derived from the loaders: the image loaders'
(`IMAGE_DATASETS`), cached VAE latents, and the 2-D toy distributions (`TOY_DISTRIBUTIONS`).

Adding a toy distribution or an image dataset to its loader adds it here, to the training
config (`data.name`) and to `energykit evaluate --data`; nothing else lists names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from energykit.data.images import IMAGE_DATASETS
from energykit.data.toy2d import TOY_DISTRIBUTIONS

#: The name of cached VAE latents (a folder written by `energykit latents`).
LATENTS = "latents"

DatasetFamily = Literal["images", "latents", "toy"]


@dataclass(frozen=True)
class DatasetInfo:
    """What the rest of the toolkit needs to know about a dataset name.

    Attributes:
        name: The name a recipe uses (`data.name`).
        family: `images` (bundled labelled images), `latents` (a latent folder) or `toy`
            (a seeded 2-D distribution).
    """

    name: str
    family: DatasetFamily

    @property
    def images(self) -> bool:
        """Samples are images `(C, H, W)` with class labels (image datasets and latents)."""
        return self.family != "toy"

    @property
    def named_heldout(self) -> bool:
        """A held-out split can be rebuilt from the name alone (not for a latent folder)."""
        return self.family != "latents"


#: Every dataset, by name: image datasets, latents, then the toy distributions.
DATASETS: dict[str, DatasetInfo] = {
    **{name: DatasetInfo(name, "images") for name in IMAGE_DATASETS},
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

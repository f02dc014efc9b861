"""Memorisation: are samples closer to the training images than unseen real images are?

A model that reproduces its training set can beat real held-out data on any metric computed
against the train split. The check here is the nearest-neighbour ratio

$$ r = \\frac{\\operatorname{median}_i \\min_j \\lVert x_i - t_j \\rVert_2}
            {\\operatorname{median}_k \\min_j \\lVert h_k - t_j \\rVert_2}, $$

with samples $x_i$, training images $t_j$ and held-out images $h_k$ (flattened). $r \\approx 1$:
samples sit as far from the training set as unseen data do; $r \\ll 1$: copying.
"""

from __future__ import annotations

import torch
from torch import Tensor

from energykit._checks import check_batch

#: Rows of `x` compared with `reference` at once (bounds the distance matrix's memory).
CHUNK = 1024


def nearest_distance(x: Tensor, reference: Tensor) -> Tensor:
    """Euclidean distance from each row of `x` to its nearest row of `reference`.

    Args:
        x: Samples `(n, ...)`, flattened to `(n, d)`.
        reference: The set searched `(m, ...)`, flattened to `(m, d)`. Both are compared in
            float64, `CHUNK` rows of `x` at a time (memory `CHUNK * m` doubles).

    Returns:
        Distances `(n,)`, float64.

    Raises:
        TypeError: either input is not a floating-point tensor.
        ValueError: either is empty, or their rows differ in length.
    """
    a = check_batch("nearest_distance x", x).flatten(1).double()
    b = check_batch("nearest_distance reference", reference).flatten(1).double()
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"nearest_distance: x has rows of {a.shape[1]} values (shape {tuple(x.shape)}), "
            f"reference rows of {b.shape[1]} (shape {tuple(reference.shape)})"
        )
    return torch.cat([torch.cdist(chunk, b).min(dim=1).values for chunk in a.split(CHUNK)])


def heldout_scale(train: Tensor, heldout: Tensor) -> float:
    """The ratio's denominator: the median distance from a held-out image to its nearest
    training image (depends on the data only, so callers scoring many sample sets compute it
    once).

    Raises:
        ValueError: the held-out images coincide with training images (median distance 0).
    """
    real = float(nearest_distance(heldout, train).median())
    if real <= 0.0:
        raise ValueError("memorization_ratio: held-out images coincide with training images")
    return real


def memorization_ratio(x: Tensor, train: Tensor, heldout: Tensor) -> float:
    """The median nearest-train distance of `x` over that of `heldout` (module docstring).

    Args:
        x: Samples `(n, ...)`.
        train: The training images `(m, ...)`.
        heldout: Real images not trained on `(k, ...)`, the reference scale.

    Returns:
        $r$; about 1 when samples sit as far from the training set as unseen images do.

    Raises:
        ValueError: the held-out images coincide with training images (median distance 0),
            or shapes disagree (`nearest_distance`).
    """
    return float(nearest_distance(x, train).median()) / heldout_scale(train, heldout)

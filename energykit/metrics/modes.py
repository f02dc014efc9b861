"""Mode statistics for samples of a distribution with known modes (toy data)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from energykit._checks import check_real
from energykit.metrics._pairs import check_samples


@dataclass(frozen=True)
class ModeStats:
    """How samples sit around known modes.

    Attributes:
        hit_rate: Fraction of samples within `radius` of some mode.
        modes_covered: Number of modes with at least one sample within `radius`.
        counts: Samples within `radius` of each mode, `(K,)`.
    """

    hit_rate: float
    modes_covered: int
    counts: Tensor


def mode_stats(samples: Tensor, modes: Tensor, radius: float) -> ModeStats:
    """Assign each sample `(n, d)` to its nearest mode `(K, d)` and count hits within `radius`.

    Raises:
        TypeError: `samples` or `modes` is not a tensor.
        ValueError: no samples or modes, NaN/inf values, mismatched `d`, or a radius that is
            not a positive number.
    """
    check_samples("mode_stats", "samples", samples)
    check_samples("mode_stats", "modes", modes)
    if samples.ndim != 2 or modes.shape[1:] != samples.shape[1:]:
        raise ValueError(
            f"mode_stats modes: expected (K, d) with the samples' d, got samples "
            f"{tuple(samples.shape)} and modes {tuple(modes.shape)}"
        )
    radius = check_real("mode_stats radius", radius, minimum=0.0, strict=True)
    dist = torch.cdist(samples.double(), modes.double())  # (n, K)
    nearest, which = dist.min(dim=1)
    hit = nearest < radius
    counts = torch.bincount(which[hit], minlength=modes.shape[0])
    return ModeStats(float(hit.double().mean()), int((counts > 0).sum()), counts)

"""Mode statistics for samples of a distribution with known modes (toy data)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


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
    """Assign each sample `(n, d)` to its nearest mode `(K, d)` and count hits within `radius`."""
    dist = torch.cdist(samples.double(), modes.double())  # (n, K)
    nearest, which = dist.min(dim=1)
    hit = nearest < radius
    counts = torch.bincount(which[hit], minlength=modes.shape[0])
    return ModeStats(float(hit.double().mean()), int((counts > 0).sum()), counts)

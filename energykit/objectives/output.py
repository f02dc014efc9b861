"""The typed result of every objective."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor


@dataclass(frozen=True)
class LossOutput:
    """A training loss and its diagnostics.

    Attributes:
        loss: Scalar to backpropagate (mean of `per_sample`).
        per_sample: Loss per sample, `(B,)`.
        t: The level each sample was drawn at, `(B,)` ($\\gamma$ for EqM, $t$ for flows).
        prediction_norm: Norm of the prediction per sample, `(B,)`, detached.
        target_norm: Norm of the target per sample, `(B,)`, detached.
    """

    loss: Tensor
    per_sample: Tensor
    t: Tensor
    prediction_norm: Tensor
    target_norm: Tensor

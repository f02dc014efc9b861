"""The typed result of every objective."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from energykit._checks import batch_norm
from energykit._repr import mean_text, tensor_text


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

    def __repr__(self) -> str:
        """The loss and summary numbers, not the tensors (reads them back to the host)."""
        return (
            f"LossOutput(loss={float(self.loss.detach()):.6g}, "
            f"per_sample={tensor_text(self.per_sample)}, t {mean_text(self.t)}, "
            f"prediction_norm {mean_text(self.prediction_norm)}, "
            f"target_norm {mean_text(self.target_norm)})"
        )

    @classmethod
    def regression(cls, pred: Tensor, target: Tensor, t: Tensor) -> LossOutput:
        """Mean squared error over non-batch dimensions, then over the batch."""
        per_sample = (pred - target).square().reshape(pred.shape[0], -1).mean(dim=1)
        return cls(
            loss=per_sample.mean(),
            per_sample=per_sample,
            t=t,
            prediction_norm=batch_norm(pred.detach()),
            target_norm=batch_norm(target.detach()),
        )

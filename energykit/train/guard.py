"""Divergence guard: a non-finite step is never applied, and costs no host-device sync.

After the backward pass, `DivergenceGuard.check` looks for NaN/inf in the loss and in every
gradient *on the device* and folds the answer into a sticky flag $f \\in \\{0, 1\\}$ (a 0-d
float tensor). The optimiser reads $f$ itself: fused Adam, AdamW and SGD take it as
`found_inf` (the protocol `torch.amp.GradScaler` uses) and leave weights, moments and step
counts untouched when $f = 1$; the EMA update is scaled by $1 - f$. Once set, the flag stays
set, so every later step is a no-op too and the weights stay those of the last good step.

The host reads the flag only where it already waits for the device (log, evaluation and
checkpoint steps, and the end of `fit`): `raise_if_tripped` then raises `NonFiniteError`
naming the first bad step and what was non-finite.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from energykit._distributed import DistInfo, any_true
from energykit.train.checkpoint import nonfinite_entries

#: Codes of the quantity that went non-finite first (0: none).
_WHAT = {1: "loss", 2: "gradient"}


class NonFiniteError(FloatingPointError):
    """Training produced a NaN or infinite loss, gradient or weight; the message names the
    step, the quantity and the remedy. Nothing non-finite was applied or saved."""


#: What to do about a diverged run.
REMEDY = (
    "lower optim.lr, set optim.grad_clip, or train in float32 (train.bf16=false), then "
    "resume from the last checkpoint or start over with --fresh"
)


def kept_note(last_good: int | None) -> str:
    """What is on disk, for the messages."""
    if last_good is None:
        return " (no checkpoint was written yet)"
    return f" (the last checkpoint, step {last_good}, is unchanged)"


class DivergenceGuard:
    """Sticky device-side record of the first non-finite training step.

    Args:
        device: Where the flags live (the training device).
    """

    def __init__(self, device: torch.device) -> None:
        #: 1.0 once any step was non-finite, else 0.0; `()` float32 (fused optimisers' dtype).
        self.flag = torch.zeros((), device=device)
        self._step = torch.full((), -1, dtype=torch.int64, device=device)
        self._what = torch.zeros((), dtype=torch.int64, device=device)
        self._loss = torch.zeros((), dtype=torch.float64, device=device)
        self._one = torch.ones((), device=device)

    def check(self, step: int, loss: Tensor, grads: list[Tensor]) -> Tensor:
        """Fold step `step`'s loss and gradients into the flag (device only, no sync).

        Args:
            step: The step being taken (1-based).
            loss: The (summed) loss of the step, a 0-d tensor.
            grads: The gradients about to be applied.

        Returns:
            The sticky flag, 1.0 when this or an earlier step was non-finite.
        """
        bad_grad = torch.zeros(1, device=self.flag.device)
        by_dtype: dict[torch.dtype, list[Tensor]] = {}
        for g in grads:
            if type(g) is Tensor:
                by_dtype.setdefault(g.dtype, []).append(g)
        for group in by_dtype.values():  # the CUDA kernel wants one dtype per call
            # GradScaler's kernel: sets bad_grad to 1 on any NaN/inf; scaling by 1 is exact.
            torch._amp_foreach_non_finite_check_and_unscale_(group, bad_grad, self._one)
        for g in grads:  # DTensor (FSDP2) shards: check the local part
            if type(g) is not Tensor:
                local = g.to_local()  # type: ignore[attr-defined]
                bad_grad = torch.maximum(bad_grad, (~torch.isfinite(local)).any().float())
        bad_loss = (~torch.isfinite(loss.detach())).float()
        what = torch.where(bad_loss > 0, 1, torch.where(bad_grad[0] > 0, 2, 0))
        new = (what > 0) & (self.flag == 0)
        self._step.copy_(torch.where(new, step, self._step))
        self._what.copy_(torch.where(new, what, self._what))
        self._loss.copy_(torch.where(new, loss.detach().double(), self._loss))
        self.flag.copy_(torch.maximum(self.flag, (what > 0).float()))
        return self.flag

    def tripped(self) -> bool:
        """Whether any step so far was non-finite (one host-device sync)."""
        return bool(self.flag.item())

    def raise_if_tripped(self, last_good: int | None) -> None:
        """Raise `NonFiniteError` if a step was non-finite (one host-device sync).

        Args:
            last_good: Step of the last checkpoint on disk, for the message, or `None`.
        """
        if not self.tripped():
            return
        step, what, loss = int(self._step), _WHAT[int(self._what)], float(self._loss)
        shown = f"loss {loss:.4g}" if math.isfinite(loss) else f"loss {loss}"
        kept = kept_note(last_good)
        raise NonFiniteError(
            f"training diverged at step {step}: the {what} was NaN or infinite ({shown}); "
            f"that step and any after it were not applied to the weights or the EMA{kept}. "
            f"Remedy: {REMEDY}"
        )


def refuse_nonfinite_state(
    state: dict[str, Any], path: Path, step: int, last_good: int | None, dist: DistInfo
) -> None:
    """Raise `NonFiniteError` when a float of `state` (weights, EMA, optimiser) on any rank
    is NaN or infinite: `path` is then not written (a collective under torchrun)."""
    bad = nonfinite_entries(state)
    if any_true(bool(bad), dist):
        raise NonFiniteError(
            f"training diverged by step {step}: the weights hold NaN or infinite values "
            f"({', '.join(bad[:3]) or 'on another rank'}); {str(path)!r} was not "
            f"written{kept_note(last_good)}. Remedy: {REMEDY}"
        )

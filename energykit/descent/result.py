"""Typed results of a descent: the final state and what each step saw."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor


@dataclass(frozen=True)
class DescentResult:
    """Outcome of `Descender.run`.

    Attributes:
        x: Final samples $x_N$, shape `(B, *shape)` (for NAG-GD, Algorithm 2's $x_N$,
            not a look-ahead point).
        steps: Updates applied to each sample, `(B,)` int64.
        nfe: Field evaluations spent on each sample, `(B,)` int64. A sample that stops when
            its gradient is small costs one evaluation more than its steps.
        grad_norm: Norm of the last gradient evaluated for each sample, `(B,)`.
        converged: Whether each sample stopped on `g_min`, `(B,)` bool.
        trajectory: With `record=True`, the samples after each step, `(steps + 1, B, *shape)`
            starting with $x_0$; otherwise `None`.
    """

    x: Tensor
    steps: Tensor
    nfe: Tensor
    grad_norm: Tensor
    converged: Tensor
    trajectory: Tensor | None = None

    @property
    def nfe_total(self) -> int:
        """Field evaluations summed over the batch (rows passed to the field)."""
        return int(self.nfe.sum())


@dataclass(frozen=True)
class DescentStep:
    """What a `callback` sees after each step (read-only views; do not modify).

    Attributes:
        step: Index of the step just taken, from 0.
        x: Samples after the step, `(B, *shape)`.
        grad: Gradient evaluated this step, zero for rows not evaluated, `(B, *shape)`.
        grad_norm: Its norm per sample, `(B,)`.
        active: Rows evaluated this step, `(B,)` bool.
        converged: Rows stopped so far, `(B,)` bool.
    """

    step: int
    x: Tensor
    grad: Tensor
    grad_norm: Tensor
    active: Tensor
    converged: Tensor

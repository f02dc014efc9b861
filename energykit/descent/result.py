"""Typed results of a descent: the final state and what each step saw."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from energykit._repr import count_text, mean_text, tensor_text


@dataclass(frozen=True)
class DescentResult:
    """Outcome of `Descender.run`.

    Attributes:
        x: Final samples $x_N$, shape `(B, *shape)` (for NAG-GD, Algorithm 2's $x_N$,
            not a look-ahead point).
        steps: Updates applied to each sample, `(B,)` int64.
        nfe: Field evaluations spent on each sample, `(B,)` int64: every call of the
            optimiser's closure counts (LBFGS calls it several times per step). A sample that
            stops when its gradient is small costs one evaluation more than its steps.
        grad_norm: Norm of the last gradient evaluated for each sample, `(B,)`.
        converged: Whether each sample stopped on `g_min`, `(B,)` bool.
        failed: Whether each sample was frozen because the field returned NaN/inf for it or
            its update overflowed, `(B,)` bool; all `False` unless the `Descender` was built
            with `nonfinite="freeze"` (the default raises instead). A failed sample's `x` is
            its last finite iterate, not a sample of the model: filter it out.
        trajectory: With `record=True`, the samples after each step, `(steps + 1, B, *shape)`
            starting with $x_0$; otherwise `None`.
    """

    x: Tensor
    steps: Tensor
    nfe: Tensor
    grad_norm: Tensor
    converged: Tensor
    failed: Tensor
    trajectory: Tensor | None = None

    @property
    def nfe_total(self) -> int:
        """Field evaluations summed over the batch (rows passed to the field)."""
        return int(self.nfe.sum())

    @property
    def n_failed(self) -> int:
        """Number of samples frozen on a non-finite value (`nonfinite="freeze"`)."""
        return int(self.failed.sum())

    def __repr__(self) -> str:
        """Shapes and summary numbers, not the tensors (reads them back to the host)."""
        return (
            f"DescentResult(x={tensor_text(self.x)}, steps {mean_text(self.steps)}, "
            f"nfe_total={self.nfe_total}, grad_norm {mean_text(self.grad_norm)}, "
            f"converged={count_text(self.converged)}, failed={count_text(self.failed)}, "
            f"trajectory={tensor_text(self.trajectory)})"
        )


@dataclass(frozen=True)
class DescentStep:
    """What a `callback` sees after each step (read-only views; do not modify).

    Attributes:
        step: Index of the step just taken, from 0.
        x: Samples after the step, `(B, *shape)`.
        grad: Gradient evaluated this step, zero for rows not evaluated, `(B, *shape)`.
        grad_norm: Its norm per sample, `(B,)`.
        active: Rows evaluated this step, `(B,)` bool.
        converged: Rows stopped on `g_min` so far, `(B,)` bool.
        failed: Rows frozen on a non-finite value so far, `(B,)` bool.
    """

    step: int
    x: Tensor
    grad: Tensor
    grad_norm: Tensor
    active: Tensor
    converged: Tensor
    failed: Tensor

    def __repr__(self) -> str:
        """Shapes and row counts, not the tensors (reads them back to the host)."""
        return (
            f"DescentStep(step={self.step}, x={tensor_text(self.x)}, "
            f"grad_norm {mean_text(self.grad_norm)}, active={count_text(self.active)}, "
            f"converged={count_text(self.converged)}, failed={count_text(self.failed)})"
        )

"""The `EnergyField` abstraction: a scalar energy landscape and its gradient.

A field maps a batch `x` of shape `(B, *shape)` to `grad E(x)` of the same shape, in the paper's
sign: the gradient points uphill, away from data, and sampling descends it. Explicit fields also
return the energy `E(x)` of shape `(B,)`; implicit ones (a net that predicts the gradient
directly) have none and raise `NoEnergyError`.

Fields compose like the energies they stand for: `a + 0.5 * b` is the field of
$E_a + \\tfrac12 E_b$, built as one flat `WeightedSum` node (see `composite.py`).
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from energykit._checks import check_real

if TYPE_CHECKING:
    from energykit.fields.composite import Bound, WeightedSum


class NoEnergyError(TypeError):
    """Raised by `energy()` on a field that only knows its gradient (an implicit field)."""


class EnergyField(nn.Module):
    """Base class of every energy landscape.

    Subclasses override `energy()` (the gradient then comes from autograd) or `gradient()`
    alone (an implicit field, with no energy). Conditioning is keyword-only: `**cond`, e.g.
    `y=labels`, with batched tensors sharing `x`'s batch size.

    Gradient rule: `gradient()` is differentiable with respect to parameters exactly when grad
    mode is on at the call (training). Explicit fields always differentiate `E` with respect
    to `x` under `torch.enable_grad()`, with `create_graph` only when grad mode was on, so
    sampling under `torch.no_grad()` works and stores no graph.

    Calling a field, `field(x, **cond)`, is the same as `field.gradient(x, **cond)`.
    """

    def __init__(self) -> None:
        super().__init__()
        cls = type(self)
        if cls.energy is EnergyField.energy and cls.gradient is EnergyField.gradient:
            raise TypeError(f"{cls.__name__} must override energy() or gradient() (or both)")

    # -- the two hooks -------------------------------------------------------------------

    def energy(self, x: Tensor, **cond: Any) -> Tensor:
        """Energy $E(x)$ per sample.

        Args:
            x: Points, shape `(B, *shape)`.
            **cond: Conditioning, e.g. `y=labels` of shape `(B,)`.

        Returns:
            Energies, shape `(B,)`.

        Raises:
            NoEnergyError: The field is implicit and has no energy.
        """
        raise NoEnergyError(
            f"{self.label} is implicit: it predicts grad E directly and has no energy "
            "(wrap an energy head such as DotEnergy or L2Energy to get one)"
        )

    def gradient(self, x: Tensor, **cond: Any) -> Tensor:
        """Gradient $\\nabla_x E(x)$ in the paper's sign (uphill).

        The default differentiates `energy()` by autograd.

        Args:
            x: Points, shape `(B, *shape)`.
            **cond: Conditioning, e.g. `y=labels` of shape `(B,)`.

        Returns:
            The gradient, shape `(B, *shape)`.
        """
        return autograd_gradient(self.energy, x, **cond)

    def forward(self, x: Tensor, **cond: Any) -> Tensor:
        """Alias of `gradient()`, so `field(x)` works like any module."""
        return self.gradient(x, **cond)

    # -- conveniences --------------------------------------------------------------------

    @property
    def has_energy(self) -> bool:
        """Whether `energy()` is available (the field is explicit)."""
        return type(self).energy is not EnergyField.energy

    @property
    def label(self) -> str:
        """A short human-readable name used in error messages."""
        return type(self).__name__

    def bind(self, **cond: Any) -> Bound:
        """Fix conditioning, e.g. `model.bind(y=3)`: the result takes `x` alone.

        Python numbers and 0-d tensors are broadcast to the batch at call time.
        """
        from energykit.fields.composite import Bound

        return Bound(self, **cond)

    # -- algebra: every operator builds one flat WeightedSum -------------------------------

    def __add__(self, other: object) -> WeightedSum:
        from energykit.fields.composite import WeightedSum

        if isinstance(other, EnergyField):
            return WeightedSum.combine([(self, 1.0), (other, 1.0)])
        return WeightedSum.combine([(self, 1.0)], offset=_operand("+", self, other))

    def __radd__(self, other: object) -> WeightedSum:
        # Reached for `number + field`, which is what `sum([a, b, c])` starts with.
        from energykit.fields.composite import WeightedSum

        return WeightedSum.combine([(self, 1.0)], offset=_operand("+", self, other))

    def __sub__(self, other: object) -> WeightedSum:
        if isinstance(other, EnergyField):
            return self + (-1.0) * other
        return self + (-_operand("-", self, other))

    def __rsub__(self, other: object) -> WeightedSum:
        return (-1.0) * self + _operand("-", self, other)

    def __neg__(self) -> WeightedSum:
        return (-1.0) * self

    def __mul__(self, other: object) -> WeightedSum:
        from energykit.fields.composite import WeightedSum

        return WeightedSum.combine([(self, _operand("*", self, other))])

    def __rmul__(self, other: object) -> WeightedSum:
        return self.__mul__(other)

    def __truediv__(self, other: object) -> WeightedSum:
        divisor = _operand("/", self, other)
        if divisor == 0.0:
            raise ZeroDivisionError(f"{self.label} / 0: the divisor must be non-zero")
        return self * (1.0 / divisor)


def _operand(op: str, field: EnergyField, other: object) -> float:
    """Validate the number on the other side of `field op other`."""
    if isinstance(other, EnergyField):
        raise TypeError(
            f"{field.label} {op} {other.label}: fields combine only by weighted sums "
            "(a + b, a - b, w * a); a product or quotient of two energies is not a field here"
        )
    if isinstance(other, bool) or not isinstance(other, numbers.Real):
        raise TypeError(
            f"{field.label} {op} {type(other).__name__}: expected an EnergyField or a real "
            f"number, got {type(other).__name__}"
        )
    return check_real(f"operand of {op}", other)


def autograd_gradient(energy: Any, x: Tensor, **cond: Any) -> Tensor:
    """$\\nabla_x$ of `energy(x, **cond)` by autograd, following the gradient rule.

    With grad mode on, the result keeps its graph (`create_graph=True`) so a loss on it
    reaches the parameters; with grad mode off it is a plain tensor.

    Args:
        energy: Callable returning energies of shape `(B,)`.
        x: Points, shape `(B, *shape)`.
        **cond: Conditioning passed through to `energy`.

    Returns:
        The gradient, shape `(B, *shape)`.
    """
    if torch.is_inference_mode_enabled():
        raise RuntimeError(
            "an explicit energy needs autograd for grad_x E: call it under torch.no_grad(), "
            "not torch.inference_mode()"
        )
    create_graph = torch.is_grad_enabled()
    with torch.enable_grad():
        xg = x if (create_graph and x.requires_grad) else x.detach().requires_grad_(True)
        e = energy(xg, **cond)
        if e.shape != (x.shape[0],):
            raise ValueError(
                f"energy: expected shape ({x.shape[0]},) (one value per sample), "
                f"got {tuple(e.shape)}"
            )
        (g,) = torch.autograd.grad(
            e.sum(), xg, create_graph=create_graph, allow_unused=True, materialize_grads=True
        )
    return g

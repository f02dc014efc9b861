"""Neural fields: a net that predicts the gradient, and explicit energy heads on a net.

All three wrap a net `f(x, **cond)` whose output has `x`'s shape:

- `ImplicitField`: $\\nabla E(x) = f(x)$ (EqM's default; no energy).
- `DotEnergy`: $E(x) = \\langle x, f(x) \\rangle$ (EqM-E, dot-product head).
- `L2Energy`: $E(x) = -\\tfrac12 \\lVert f(x) \\rVert^2$ (EqM-E, squared-L2 head, paper sign).

Neither head adds parameters.
"""

from __future__ import annotations

from typing import Any, Literal

from torch import Tensor, nn

from energykit._checks import batch_sum, check_batch, check_cond_batch, check_dtype_like
from energykit.fields.base import EnergyField


class _NetField(EnergyField):
    """Shared plumbing: hold a net, check conditioning and output shape."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        if not callable(net):
            raise TypeError(f"{type(self).__name__}: expected a callable net, got {type(net)}")
        self.net = net

    @property
    def label(self) -> str:
        return f"{type(self).__name__}({type(self.net).__name__})"

    def _net(self, x: Tensor, cond: dict[str, Any]) -> Tensor:
        check_batch("x", x)
        check_dtype_like("x", x, self.net)
        check_cond_batch(x, cond)
        out = self.net(x, **cond)
        if not isinstance(out, Tensor) or out.shape != x.shape:
            got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(
                f"{self.label}: the net must return a tensor shaped like x "
                f"{tuple(x.shape)}, got {got}"
            )
        return out


class ImplicitField(_NetField):
    """An implicit field: the net predicts $\\nabla E(x)$ directly (EqM).

    Args:
        net: Module mapping `(B, *shape)` (plus conditioning) to `(B, *shape)`.
    """

    def gradient(self, x: Tensor, **cond: Any) -> Tensor:
        return self._net(x, cond)


class DotEnergy(_NetField):
    """Dot-product energy head, $E(x) = \\langle x, f(x) \\rangle$ summed over non-batch dims.

    Args:
        net: Module mapping `(B, *shape)` (plus conditioning) to `(B, *shape)`.
    """

    def energy(self, x: Tensor, **cond: Any) -> Tensor:
        return batch_sum(x * self._net(x, cond))


class L2Energy(_NetField):
    """Squared-L2 energy head.

    With `convention="paper"` (default), $E(x) = -\\tfrac12 \\lVert f(x) \\rVert^2$ as printed in
    the paper. With `convention="reference"`, $E(x) = +\\tfrac12 \\lVert f(x) \\rVert^2$: the
    energy that the reference code's L2 head actually descends, in energykit's sign. Use it to
    load reference checkpoints trained with that head.

    Args:
        net: Module mapping `(B, *shape)` (plus conditioning) to `(B, *shape)`.
        convention: `"paper"` or `"reference"`.
    """

    def __init__(self, net: nn.Module, convention: Literal["paper", "reference"] = "paper"):
        super().__init__(net)
        if convention not in ("paper", "reference"):
            raise ValueError(
                f"L2Energy convention: expected 'paper' or 'reference', got {convention!r}"
            )
        self.convention = convention
        self._sign = -0.5 if convention == "paper" else 0.5

    def energy(self, x: Tensor, **cond: Any) -> Tensor:
        return self._sign * batch_sum(self._net(x, cond).square())

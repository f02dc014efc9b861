"""Run a field's networks in another precision (or compiled) while its inputs and outputs keep
the caller's dtype.

Descent in low precision keeps its state in float32: the samples, the optimiser's state and
every update stay in the caller's dtype, so a step of size $\\eta \\lVert\\nabla E\\rVert$ far
below bfloat16's resolution ($2^{-8}$ relative) is not rounded away. Only the network runs in
`dtype`: `LowPrecision(field, torch.bfloat16)` casts a copy of the field's networks, casts `x`
(and floating conditioning) to `dtype` on the way in, and the gradient back to `x.dtype`.

For an explicit head the energy is computed in `dtype` and differentiated through the cast, so
$\\nabla_x E$ arrives in `x.dtype` as autograd's cast backward.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any, cast

import torch
from torch import Tensor, nn

from energykit.fields.base import EnergyField, autograd_gradient

#: Precisions a network may run in (float64 is allowed for checks against float32 states).
PRECISIONS = (torch.float32, torch.bfloat16, torch.float16, torch.float64)


def networks(field: EnergyField) -> list[nn.Module]:
    """The networks inside `field` (the `net` of each neural head), outermost first."""
    return [cast(nn.Module, m.net) for m in field.modules() if _has_net(m)]


class LowPrecision(EnergyField):
    """`field` with its networks in `dtype`; inputs and gradients stay in the caller's dtype.

    The wrapped field is a deep copy (the caller's field is not modified), with every network
    of a neural head cast to `dtype` (weights and buffers); the rest of the field (composite
    weights, guidance scale) keeps its precision.

    Args:
        field: The field; it must hold at least one network (`ImplicitField`, `DotEnergy`,
            `L2Energy`, or a composite of them).
        dtype: The network precision: `torch.bfloat16`, `torch.float16`, `torch.float32` or
            `torch.float64`.

    Raises:
        TypeError: `field` is not an `EnergyField`, or `dtype` is not one of the above.
        ValueError: `field` holds no network.

    Example:
        ```python
        fast = LowPrecision(model.field(), torch.bfloat16)
        result = Descender(fast, "nag", lr=0.0017, momentum=0.3).run(x0)  # x0 float32
        ```
    """

    def __init__(self, field: EnergyField, dtype: torch.dtype = torch.bfloat16) -> None:
        super().__init__()
        if not isinstance(field, EnergyField):
            raise TypeError(f"LowPrecision field: expected an EnergyField, got {type(field)}")
        if dtype not in PRECISIONS:
            names = [str(d).removeprefix("torch.") for d in PRECISIONS]
            raise TypeError(f"LowPrecision dtype: expected one of {names}, got {dtype!r}")
        inner = copy.deepcopy(field)
        nets = networks(inner)
        if not nets:
            raise ValueError(
                f"LowPrecision: {field.label} holds no network to run in {dtype}; "
                "closed-form fields already run in the dtype of their input"
            )
        for net in nets:
            net.to(dtype)
        self.field, self.dtype = inner, dtype

    @property
    def has_energy(self) -> bool:
        return self.field.has_energy

    @property
    def label(self) -> str:
        return f"LowPrecision({self.field.label}, {str(self.dtype).removeprefix('torch.')})"

    def _inputs(self, x: Tensor, cond: dict[str, Any]) -> tuple[Tensor, dict[str, Any]]:
        """`x` and the floating conditioning tensors in `dtype`; labels and numbers as they
        are."""
        low = {k: _cast(v, self.dtype) for k, v in cond.items()}
        return x.to(self.dtype), low

    def gradient(self, x: Tensor, **cond: Any) -> Tensor:
        """$\\nabla E(x)$ with the networks in `dtype`, returned in `x.dtype`, `(B, *shape)`."""
        if self.field.has_energy:
            return autograd_gradient(self.energy, x, **cond)
        xl, low = self._inputs(x, cond)
        return self.field.gradient(xl, **low).to(x.dtype)

    def energy(self, x: Tensor, **cond: Any) -> Tensor:
        """$E(x)$ computed in `dtype`, returned in `x.dtype`, `(B,)`; differentiable through
        the input cast, so its gradient arrives in `x.dtype`."""
        xl, low = self._inputs(x, cond)
        return self.field.energy(xl, **low).to(x.dtype)


def _cast(value: Any, dtype: torch.dtype) -> Any:
    if isinstance(value, Tensor) and value.is_floating_point():
        return value.to(dtype)
    return value


def compile_networks(field: EnergyField, **compile_kwargs: Any) -> EnergyField:
    """A copy of `field` whose head networks are `torch.compile`d (for sampling).

    Explicit heads work too: descent needs only the first-order $\\nabla_x E$, which a
    compiled network supports through autograd (training an explicit head would need the
    second order, which `torch.compile` does not support).

    Args:
        field: The field; the caller's object is not modified.
        **compile_kwargs: Passed to `torch.compile` (e.g. `mode="max-autotune"`).

    Raises:
        ValueError: `field` holds no network.
    """
    out = copy.deepcopy(field)
    heads = [m for m in out.modules() if isinstance(m, EnergyField) and _has_net(m)]
    if not heads:
        raise ValueError(f"compile: {field.label} holds no network to compile")
    for head in heads:
        net = cast(nn.Module, head.net)
        head.net = cast(nn.Module, torch.compile(net, **compile_kwargs))
    return out


def _has_net(module: nn.Module) -> bool:
    return isinstance(getattr(module, "net", None), nn.Module)


def input_parameters(field: EnergyField) -> Iterator[Tensor]:
    """The floating parameters whose dtype inputs of `field` must share: every parameter
    outside a `LowPrecision` wrapper (which accepts inputs of any floating dtype)."""

    def walk(module: nn.Module) -> Iterator[Tensor]:
        if isinstance(module, LowPrecision):
            return
        yield from (p for p in module.parameters(recurse=False) if p.is_floating_point())
        for child in module.children():
            yield from walk(child)

    return walk(field)


__all__ = ["PRECISIONS", "LowPrecision", "compile_networks", "input_parameters", "networks"]

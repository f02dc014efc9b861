"""Resolve an optimiser given as a class, a factory or a name."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from energykit.descent.nag import NAGGD

OptimizerFactory = Callable[..., Optimizer]
OptimizerSpec = str | type[Optimizer] | OptimizerFactory

#: Short names of energykit's own choice; every torch.optim class name works too.
ALIASES: dict[str, OptimizerFactory] = {
    "gd": torch.optim.SGD,
    "sgd": torch.optim.SGD,
    "nag": NAGGD,
    "naggd": NAGGD,
    "adam": torch.optim.Adam,
}


def _torch_optim_names() -> dict[str, OptimizerFactory]:
    out: dict[str, OptimizerFactory] = {}
    for name, obj in vars(torch.optim).items():
        if inspect.isclass(obj) and issubclass(obj, Optimizer) and obj is not Optimizer:
            out[name.lower()] = obj
    return out


def _torch_optimizer_names() -> dict[str, OptimizerFactory]:
    try:
        import torch_optimizer
    except Exception:  # the `optim` extra is optional; any import failure means "absent"
        return {}
    out: dict[str, OptimizerFactory] = {}
    for name, obj in vars(torch_optimizer).items():
        if inspect.isclass(obj) and issubclass(obj, Optimizer):
            out.setdefault(name.lower(), obj)
    return out


def available_optimizers() -> list[str]:
    """Every name `resolve_optimizer` accepts (lower case)."""
    names = {**_torch_optimizer_names(), **_torch_optim_names(), **ALIASES}
    return sorted(names)


def resolve_optimizer(spec: OptimizerSpec) -> OptimizerFactory:
    """Turn `spec` into a callable `factory(params, **kwargs) -> Optimizer`.

    Args:
        spec: An `Optimizer` subclass, a factory with the same calling convention, or a name:
            `"gd"` (SGD), `"nag"` (NAGGD), `"adam"`, any `torch.optim` class name and, with
            the `optim` extra installed, any `torch_optimizer` class name (case-insensitive).

    Raises:
        ValueError: An unknown name; the message lists the choices.
        TypeError: `spec` is neither a name nor callable.
    """
    if isinstance(spec, str):
        key = spec.lower()
        for table in (ALIASES, _torch_optim_names(), _torch_optimizer_names()):
            if key in table:
                return table[key]
        raise ValueError(
            f"optimizer: unknown name {spec!r}; expected one of {available_optimizers()}"
        )
    if callable(spec):
        return spec
    raise TypeError(
        f"optimizer: expected an Optimizer class, a factory or a name, got {type(spec).__name__}"
    )


def build_optimizer(
    factory: OptimizerFactory, x: Tensor, lr: float | None, kwargs: dict[str, Any]
) -> Optimizer:
    """Build the optimiser over the single parameter `x` and check what came back."""
    opt = factory([x], **kwargs) if lr is None else factory([x], lr=lr, **kwargs)
    if not isinstance(opt, Optimizer):
        raise TypeError(
            f"optimizer: the factory must return a torch.optim.Optimizer, got {type(opt).__name__}"
        )
    return opt

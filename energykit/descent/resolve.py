"""Resolve an optimiser given as a class, a factory or a name."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from energykit.descent.multistep import Multistep
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
    "multistep": Multistep,
    # Adams-Bashforth of order 2-4 (warm-started with the lower orders).
    "ab2": functools.partial(Multistep, order=2),
    "ab3": functools.partial(Multistep, order=3),
    "ab4": functools.partial(Multistep, order=4),
}

#: Optimiser classes that cannot step a batch of samples, and why: `available_optimizers`
#: leaves them out and `resolve_optimizer` refuses them by name.
UNSUITABLE: dict[str, str] = {
    "optimizer": "it is the abstract base class",
    "sparseadam": "it needs sparse gradients",
    "adahessian": "it needs a second-order graph (create_graph) of the field's gradient",
    "lookahead": "it wraps another optimiser and takes no lr",
    "ranger": "it never calls the closure that evaluates the field",
    "rangerva": "it never calls the closure that evaluates the field",
    "muon": "it handles only 2-D parameters (matrices), not a batch of samples",
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
    return sorted(set(names) - set(UNSUITABLE))


def resolve_optimizer(spec: OptimizerSpec) -> OptimizerFactory:
    """Turn `spec` into a callable `factory(params, **kwargs) -> Optimizer`.

    Args:
        spec: An `Optimizer` subclass, a factory with the same calling convention, or a name:
            `"gd"` (SGD), `"nag"` (NAGGD), `"adam"`, any `torch.optim` class name and, with
            the `optim` extra installed, any `torch_optimizer` class name (case-insensitive).

    Raises:
        ValueError: An unknown name, or one in `UNSUITABLE`; the message lists the choices.
        TypeError: `spec` is neither a name nor callable.
    """
    if isinstance(spec, str):
        key = spec.lower()
        if key in UNSUITABLE:
            raise ValueError(
                f"optimizer: {spec!r} cannot sample: {UNSUITABLE[key]}; expected one of "
                f"{available_optimizers()}"
            )
        # Built lazily, in this order: a short name never pays for the class tables.
        for table in (lambda: ALIASES, _torch_optim_names, _torch_optimizer_names):
            names = table()
            if key in names:
                return names[key]
        raise ValueError(
            f"optimizer: unknown name {spec!r}; expected one of {available_optimizers()}"
        )
    if inspect.isclass(spec) and not issubclass(spec, Optimizer):
        raise TypeError(
            "optimizer: expected a torch.optim.Optimizer class, a factory, or a name, got the "
            f"class {spec.__module__}.{spec.__qualname__} (not an Optimizer subclass)"
        )
    if isinstance(spec, Optimizer):
        raise TypeError(
            "optimizer: expected a torch.optim.Optimizer class, a factory, or a name, got an "
            f"instance of {type(spec).__name__}; pass the class (the Descender builds one "
            "optimiser per run over the samples)"
        )
    if callable(spec):
        return spec
    raise TypeError(
        "optimizer: expected a torch.optim.Optimizer class, a factory, or a name, got "
        f"{type(spec).__name__} {spec!r}"
    )


def _name(factory: OptimizerFactory) -> str:
    if isinstance(factory, functools.partial):
        return (
            f"{_name(factory.func)}({', '.join(f'{k}={v!r}' for k, v in factory.keywords.items())})"
        )
    return getattr(factory, "__name__", type(factory).__name__)


def check_optimizer_kwargs(
    factory: OptimizerFactory, lr: float | None, kwargs: dict[str, Any]
) -> None:
    """Require every keyword (and `lr` when given) to be accepted by `factory`.

    Factories whose signature cannot be read or that take `**kwargs` are not checked here;
    their own error surfaces when the optimiser is built.

    Raises:
        TypeError: A keyword the optimiser does not take; the message names it and lists the
            keywords it does take.
    """
    named = _keywords(factory)
    if named is None:
        return
    given = ([] if lr is None else ["lr"]) + list(kwargs)
    for key in given:
        if key not in named:
            what = "lr" if key == "lr" and key not in kwargs else f"optimizer keyword {key!r}"
            raise TypeError(f"{what}: {_name(factory)} does not accept {key!r}; it accepts {named}")


#: `_keywords` of the factories read so far: classes and the `ALIASES` partials only (their
#: signatures cannot change; a user's lambda or partial is read afresh each time).
_KEYWORDS: dict[OptimizerFactory, list[str] | None] = {}


def _keywords(factory: OptimizerFactory) -> list[str] | None:
    """The keywords `factory(params, ...)` takes after `params`; `None` when its signature
    cannot be read or it takes `**kwargs` (then anything may be valid)."""
    cacheable = inspect.isclass(factory) or any(factory is f for f in ALIASES.values())
    if cacheable and factory in _KEYWORDS:
        return _KEYWORDS[factory]
    try:
        params = list(inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):
        named = None
    else:
        kinds = {p.kind for p in params}
        named = (
            None
            if inspect.Parameter.VAR_KEYWORD in kinds
            else [p.name for p in params[1:] if p.kind is not inspect.Parameter.VAR_POSITIONAL]
        )
    if cacheable:
        _KEYWORDS[factory] = named
    return named


#: `_takes_foreach` of the `torch.optim` classes read so far.
_FOREACH: dict[object, bool] = {}


def _takes_foreach(factory: OptimizerFactory) -> bool:
    """Whether `factory` is a `torch.optim` class with a `foreach` argument (read once per
    class: building an optimiser should not cost a signature inspection)."""
    if not (inspect.isclass(factory) and factory.__module__.startswith("torch.optim")):
        return False
    if factory not in _FOREACH:
        _FOREACH[factory] = "foreach" in inspect.signature(factory.__init__).parameters
    return _FOREACH[factory]


def build_optimizer(
    factory: OptimizerFactory, x: Tensor, lr: float | None, kwargs: dict[str, Any]
) -> Optimizer:
    """Build the optimiser over the single parameter `x` and check what came back.

    Raises:
        TypeError, ValueError: The optimiser refused its settings (the message names it and
            what it was given), or the factory returned something else than an `Optimizer`.
    """
    settings = dict(kwargs) if lr is None else {"lr": lr, **kwargs}
    extra = {}
    if x.device.type == "cpu" and "foreach" not in settings and _takes_foreach(factory):
        # torch picks the per-tensor path on the CPU anyway (same maths); saying so up front
        # skips its per-step device/dtype inspection.
        extra["foreach"] = False
    try:
        opt = factory([x], **settings, **extra)
    except (TypeError, ValueError) as err:
        kind = TypeError if isinstance(err, TypeError) else ValueError
        raise kind(f"optimizer {_name(factory)}({settings}): {err}") from err
    if not isinstance(opt, Optimizer):
        raise TypeError(
            f"optimizer: the factory must return a torch.optim.Optimizer, got {type(opt).__name__}"
        )
    return opt

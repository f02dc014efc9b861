"""Compositions of fields: flat weighted sums and bound conditioning.

Adding fields adds energies: $E = \\sum_i w_i E_i + c$, so $\\nabla E = \\sum_i w_i \\nabla E_i$.
Every operator on fields returns one `WeightedSum`, flattened: `(a + b) + c` has three terms,
not a nested pair, and a term that appears twice is kept once with its weights added.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, cast

import torch
from torch import Tensor, nn

from energykit._checks import check_gradient
from energykit.fields.base import EnergyField, NoEnergyError


class WeightedSum(EnergyField):
    """The field of $E(x) = \\sum_i w_i E_i(x) + c$, one flat module.

    Args:
        terms: The fields $E_i$.
        weights: The real weights $w_i$, one per term (stored as a float64 buffer).
        offset: The constant $c$; it shifts `energy()` and leaves the gradient alone.

    `energy()` exists iff every term has one; otherwise it raises `NoEnergyError` naming the
    first implicit term.
    """

    weights: Tensor
    offset: Tensor

    def __init__(
        self, terms: Sequence[EnergyField], weights: Sequence[float], offset: float = 0.0
    ) -> None:
        super().__init__()
        if len(terms) != len(weights) or not terms:
            raise ValueError(
                f"WeightedSum: expected as many weights as terms (at least one), "
                f"got {len(terms)} terms and {len(weights)} weights"
            )
        self.terms = nn.ModuleList(terms)
        self.register_buffer("weights", torch.tensor(list(weights), dtype=torch.float64))
        self.register_buffer("offset", torch.tensor(float(offset), dtype=torch.float64))

    @classmethod
    def combine(
        cls, parts: Iterable[tuple[EnergyField, float]], offset: float = 0.0
    ) -> WeightedSum:
        """Build a flat sum from `(field, weight)` pairs, expanding nested sums."""
        merged: dict[int, list[Any]] = {}
        total_offset = offset
        for field, weight in parts:
            for term, w in _expand(field, weight):
                entry = merged.setdefault(id(term), [term, 0.0])
                entry[1] += w
            if isinstance(field, WeightedSum):
                total_offset += weight * float(field.offset)
        terms = [entry[0] for entry in merged.values()]
        return cls(terms, [entry[1] for entry in merged.values()], total_offset)

    @property
    def fields(self) -> list[EnergyField]:
        """The terms $E_i$, typed (the `terms` ModuleList holds the same modules)."""
        return cast(list[EnergyField], list(self.terms))

    @property
    def has_energy(self) -> bool:
        return all(t.has_energy for t in self.fields)

    @property
    def positive_weight(self) -> float:
        """$\\sum_{w_i > 0} w_i$: the step-size rule for compositions. Descending a sum of
        fields of similar scale with `lr / positive_weight` keeps the step each term would
        take alone (`a + b` would otherwise move twice as far per step as `a`)."""
        return float(self.weights.clamp(min=0).sum())

    @property
    def label(self) -> str:
        inner = " + ".join(
            f"{float(w):g}*{t.label}" for w, t in zip(self.weights, self.fields, strict=True)
        )
        return f"WeightedSum({inner})"

    def extra_repr(self) -> str:
        return f"weights={self.weights.tolist()}, offset={float(self.offset)}"

    def gradient(self, x: Tensor, **cond: Any) -> Tensor:
        """$\\sum_i w_i \\nabla E_i(x)$. Terms that bind the same field with different
        conditioning (`model.bind(y=a) + model.bind(y=b)`) are evaluated in one batched call
        of that field: the batch repeated once per term, the bound values stacked."""
        fields = self.fields
        grads: list[Tensor | None] = [None] * len(fields)
        for group in _shared_groups(fields, x, cond):
            if len(group) == 1:
                i = group[0]
                grads[i] = check_gradient(fields[i], x, fields[i].gradient(x, **cond))
                continue
            bound = [cast(Bound, fields[i]) for i in group]
            k, stacked = len(group), _stack_bound(bound, x, cond)
            g = bound[0].field.gradient(torch.cat([x] * k), **stacked)
            for i, chunk in zip(group, g.chunk(k), strict=True):
                grads[i] = check_gradient(fields[i], x, chunk)
        total: Tensor | None = None
        for w, gi in zip(self.weights, grads, strict=True):
            assert gi is not None
            term = gi * w.to(x.dtype)
            total = term if total is None else total + term
        assert total is not None  # construction guarantees at least one term
        return total

    def energy(self, x: Tensor, **cond: Any) -> Tensor:
        for i, term in enumerate(self.fields):
            if not term.has_energy:
                raise NoEnergyError(
                    f"{self.label} has no energy: term {i} ({term.label}) is implicit"
                )
        total = self.offset.to(x.dtype).expand(x.shape[0])
        for w, term in zip(self.weights, self.fields, strict=True):
            total = total + term.energy(x, **cond) * w.to(x.dtype)
        return total


def _batchable(value: Any, x: Tensor) -> bool:
    """Whether a bound value can be stacked along the batch: a number or a tensor that is 0-d
    or has one row per sample."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    return isinstance(value, Tensor) and (value.ndim == 0 or value.shape[0] == x.shape[0])


def _shared_groups(
    fields: Sequence[EnergyField], x: Tensor, cond: dict[str, Any]
) -> list[list[int]]:
    """Indices of terms, grouped: `Bound` terms over the same field binding the same keys
    (with stackable values, none clashing with `cond`) share a group; others are alone."""
    groups: dict[tuple[int, tuple[str, ...]], list[int]] = {}
    out: list[list[int]] = []
    for i, f in enumerate(fields):
        if (
            isinstance(f, Bound)
            and not set(f.cond) & set(cond)
            and all(_batchable(v, x) for v in f.cond.values())
        ):
            key = (id(f.field), tuple(sorted(f.cond)))
            if key not in groups:
                groups[key] = []
                out.append(groups[key])
            groups[key].append(i)
        else:
            out.append([i])
    return out


def _stack_bound(bound: Sequence[Bound], x: Tensor, cond: dict[str, Any]) -> dict[str, Any]:
    """Conditioning of the batched call: bound values broadcast and stacked term by term,
    call-time tensors with a batch dimension repeated."""
    k = len(bound)
    stacked: dict[str, Any] = {
        key: torch.cat([_broadcast(b.cond[key], x) for b in bound]) for key in bound[0].cond
    }
    for key, v in cond.items():
        batched = isinstance(v, Tensor) and v.ndim > 0 and v.shape[0] == x.shape[0]
        stacked[key] = torch.cat([v] * k) if batched else v
    return stacked


def _expand(field: EnergyField, weight: float) -> list[tuple[EnergyField, float]]:
    if isinstance(field, WeightedSum):
        return [(t, weight * float(w)) for t, w in zip(field.fields, field.weights, strict=True)]
    return [(field, weight)]


class Bound(EnergyField):
    """A field with some conditioning fixed: `Bound(model, y=3)(x) == model(x, y=3)`.

    Python numbers and 0-d tensors are broadcast to the batch at call time (integers as
    `torch.long`, floats in `x`'s dtype); batched tensors are passed as they are and must
    match the batch of every call. Under adaptive compute the `Descender` evaluates only the
    active rows, so bind numbers, and pass per-sample tensors to `Descender.run` instead.

    Args:
        field: The field to condition.
        **cond: The conditioning to fix.
    """

    def __init__(self, field: EnergyField, **cond: Any) -> None:
        super().__init__()
        if not isinstance(field, EnergyField):
            raise TypeError(f"Bound: expected an EnergyField, got {type(field).__name__}")
        self.field = field
        self.cond = dict(cond)

    @property
    def has_energy(self) -> bool:
        return self.field.has_energy

    @property
    def label(self) -> str:
        keys = ", ".join(f"{k}=..." for k in self.cond)
        return f"{self.field.label}.bind({keys})"

    def _merged(self, x: Tensor, cond: dict[str, Any]) -> dict[str, Any]:
        clash = sorted(set(cond) & set(self.cond))
        if clash:
            raise TypeError(f"{self.label}: conditioning {clash} is already bound")
        return {**{k: _broadcast(v, x) for k, v in self.cond.items()}, **cond}

    def gradient(self, x: Tensor, **cond: Any) -> Tensor:
        return self.field.gradient(x, **self._merged(x, cond))

    def energy(self, x: Tensor, **cond: Any) -> Tensor:
        return self.field.energy(x, **self._merged(x, cond))


def _broadcast(value: Any, x: Tensor) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return torch.full((x.shape[0],), value, dtype=torch.long, device=x.device)
    if isinstance(value, float):
        return torch.full((x.shape[0],), value, dtype=x.dtype, device=x.device)
    if isinstance(value, Tensor) and value.ndim == 0:
        return value.to(x.device).expand(x.shape[0])
    return value

"""Algebraic laws of field composition, as hypothesis properties."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import energykit as ek
from energykit.fields import WeightedSum
from tests.helpers import (
    F32_ATOL,
    F32_RTOL,
    batches,
    dims,
    dtypes,
    explicit_zoo,
    implicit,
    seeds,
    weights,
)

KINDS = ["gaussian", "quadratic", "mixture", "dot", "l2"]


def _points(b: int, d: int, seed: int, dtype: torch.dtype) -> torch.Tensor:
    return torch.randn(b, d, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _close(a: torch.Tensor, b: torch.Tensor) -> None:
    if a.dtype == torch.float64:
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
    else:
        torch.testing.assert_close(a, b, rtol=F32_RTOL, atol=F32_ATOL)


@given(
    dims, batches, seeds, dtypes, weights, weights, st.sampled_from(KINDS), st.sampled_from(KINDS)
)
def test_gradient_is_linear_in_the_terms(d, b, seed, dtype, wa, wb, ka, kb):
    zoo = explicit_zoo(d, seed, dtype)
    other = implicit(d, seed, dtype)
    a, c = zoo[ka], zoo[kb]
    x = _points(b, d, seed, dtype)
    field = wa * a + wb * c - 0.5 * other
    expected = wa * a.gradient(x) + wb * c.gradient(x) - 0.5 * other.gradient(x)
    _close(field.gradient(x), expected)


@given(dims, seeds, dtypes)
def test_sums_are_flat_and_associative(d, seed, dtype):
    zoo = explicit_zoo(d, seed, dtype)
    a, b, c = zoo["gaussian"], zoo["dot"], zoo["mixture"]
    left, right = (a + b) + c, a + (b + c)
    assert isinstance(left, WeightedSum) and len(left.terms) == 3
    assert not any(isinstance(t, WeightedSum) for t in left.terms)
    assert len(sum([a, b, c]).terms) == 3
    x = _points(4, d, seed, dtype)
    _close(left.gradient(x), right.gradient(x))
    _close(left.energy(x), right.energy(x))


@given(dims, batches, seeds, dtypes, st.sampled_from(KINDS))
def test_one_times_field_is_the_field_exactly(d, b, seed, dtype, kind):
    field = explicit_zoo(d, seed, dtype)[kind]
    x = _points(b, d, seed, dtype)
    assert torch.equal((1 * field).gradient(x), field.gradient(x))
    assert torch.equal((1.0 * field).energy(x), field.energy(x))


@given(dims, batches, seeds, dtypes, st.sampled_from(KINDS))
def test_double_negation_is_the_identity_exactly(d, b, seed, dtype, kind):
    field = explicit_zoo(d, seed, dtype)[kind]
    x = _points(b, d, seed, dtype)
    twice = -(-field)  # noqa: B002
    assert float(twice.weights[0]) == 1.0
    assert torch.equal(twice.gradient(x), field.gradient(x))
    assert torch.equal(twice.energy(x), field.energy(x))


@given(dims, batches, seeds, dtypes, st.sampled_from(KINDS), st.sampled_from(KINDS))
def test_energy_of_a_sum_is_the_sum_of_energies(d, b, seed, dtype, ka, kb):
    zoo = explicit_zoo(d, seed, dtype)
    x = _points(b, d, seed, dtype)
    a, c = zoo[ka], zoo[kb]
    _close((a + c).energy(x), a.energy(x) + c.energy(x))
    _close((a - 2.0 * c + 3.0).energy(x), a.energy(x) - 2.0 * c.energy(x) + 3.0)
    _close((a / 4.0).energy(x), a.energy(x) / 4.0)


@given(dims, st.integers(2, 6), seeds, dtypes, st.sampled_from([*KINDS, "implicit"]))
def test_fields_are_equivariant_to_batch_permutations(d, b, seed, dtype, kind):
    field = implicit(d, seed, dtype) if kind == "implicit" else explicit_zoo(d, seed, dtype)[kind]
    x = _points(b, d, seed, dtype)
    perm = torch.randperm(b, generator=torch.Generator().manual_seed(seed))
    _close(field.gradient(x[perm]), field.gradient(x)[perm])
    if field.has_energy:
        _close(field.energy(x[perm]), field.energy(x)[perm])


def test_repeated_terms_merge_and_offsets_add():
    zoo = explicit_zoo(2, 0)
    a, b = zoo["gaussian"], zoo["quadratic"]
    f = a + a + 2.0 * (b + 1.0)
    assert len(f.terms) == 2
    assert f.weights.tolist() == [2.0, 2.0]
    assert float(f.offset) == 2.0
    x = _points(3, 2, 0, torch.float64)
    torch.testing.assert_close(f.energy(x), 2 * a.energy(x) + 2 * b.energy(x) + 2.0)


def test_composites_are_modules():
    zoo = explicit_zoo(3, 1, torch.float32)
    f = zoo["dot"] + 0.5 * zoo["l2"]
    assert len(list(f.parameters())) == len(list(zoo["dot"].parameters())) * 2
    assert "weights" in f.state_dict()
    g = f.to(torch.float64)
    assert g.gradient(torch.randn(2, 3, dtype=torch.float64)).dtype == torch.float64


def test_has_energy_needs_every_term():
    zoo = explicit_zoo(2, 0)
    assert (zoo["dot"] + zoo["gaussian"]).has_energy
    mixed = zoo["dot"] + implicit(2, 0)
    assert not mixed.has_energy
    with pytest.raises(ek.NoEnergyError, match=r"term 1 \(ImplicitField\(MLP\)\) is implicit"):
        mixed.energy(torch.zeros(1, 2, dtype=torch.float64))


@given(dims, batches, seeds, dtypes, weights, st.sampled_from(KINDS), st.sampled_from(KINDS))
def test_subtraction_division_distributivity_and_commutativity(d, b, seed, dtype, w, ka, kb):
    zoo = explicit_zoo(d, seed, dtype)
    a, c = zoo[ka], zoo[kb]
    x = _points(b, d, seed, dtype)
    _close((a - c).gradient(x), (a + (-1.0) * c).gradient(x))
    _close((a / w).gradient(x), ((1.0 / w) * a).gradient(x))
    _close((w * (a + c)).gradient(x), (w * a + w * c).gradient(x))
    _close((w * (a + c)).energy(x), (w * a + w * c).energy(x))
    _close((a + c).gradient(x), (c + a).gradient(x))
    _close((a + 2.5).gradient(x), a.gradient(x))

"""Bound conditioning and classifier-free guidance against direct calls."""

from __future__ import annotations

import pytest
import torch

import energykit as ek
from tests.helpers import Counting, tiny_mlp

NUM_CLASSES = 3


def _cond_field(head=ek.ImplicitField, seed: int = 0) -> ek.EnergyField:
    return head(tiny_mlp(4, seed, num_classes=NUM_CLASSES))


def _x(b: int = 5) -> torch.Tensor:
    return torch.randn(b, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)


def test_bind_equals_passing_the_condition():
    field = _cond_field(ek.DotEnergy)
    x = _x()
    y = torch.full((5,), 2, dtype=torch.long)
    bound = field.bind(y=2)
    assert bound.has_energy
    assert torch.equal(bound.gradient(x), field.gradient(x, y=y))
    assert torch.equal(bound.energy(x), field.energy(x, y=y))
    with pytest.raises(TypeError, match="already bound"):
        bound.gradient(x, y=y)


def test_bound_fields_compose():
    field = _cond_field()
    x = _x()
    both = field.bind(y=0) + field.bind(y=1)
    expected = field.gradient(x, y=torch.zeros(5, dtype=torch.long)) + field.gradient(
        x, y=torch.ones(5, dtype=torch.long)
    )
    torch.testing.assert_close(both.gradient(x), expected)


@pytest.mark.parametrize("scale", [0.0, 1.0, 1.5, 4.0])
def test_guidance_formula_in_one_batched_call(scale):
    inner = Counting(_cond_field())
    guided = ek.Guided(inner, scale, null_label=NUM_CLASSES)
    x, y = _x(), torch.tensor([0, 1, 2, 0, 1])
    out = guided.gradient(x, y=y)
    assert inner.calls == [10]
    g_c = inner.inner.gradient(x, y=y)
    g_u = inner.inner.gradient(x, y=torch.full_like(y, NUM_CLASSES))
    torch.testing.assert_close(out, g_u + scale * (g_c - g_u))


def test_guided_energy_and_channels():
    field = _cond_field(ek.DotEnergy)
    x, y = _x(), torch.tensor([0, 1, 2, 0, 1])
    guided = ek.Guided(field, 2.0, NUM_CLASSES)
    e_c = field.energy(x, y=y)
    e_u = field.energy(x, y=torch.full_like(y, NUM_CLASSES))
    torch.testing.assert_close(guided.energy(x, y=y), e_u + 2.0 * (e_c - e_u))
    part = ek.Guided(field, 2.0, NUM_CLASSES, channels=[0, 2])
    full = guided.gradient(x, y=y)
    out = part.gradient(x, y=y)
    torch.testing.assert_close(out[:, [0, 2]], full[:, [0, 2]])
    torch.testing.assert_close(out[:, [1, 3]], field.gradient(x, y=y)[:, [1, 3]])
    assert not part.has_energy
    with pytest.raises(ek.NoEnergyError):
        part.energy(x, y=y)


def test_guidance_needs_the_class():
    guided = ek.Guided(_cond_field(), 1.5, NUM_CLASSES)
    with pytest.raises(TypeError, match="expected the class as keyword 'y'"):
        guided.gradient(_x())
    with pytest.raises(ValueError, match=r"'y' expected shape \(5,\)"):
        guided.gradient(_x(), y=torch.zeros(3, dtype=torch.long))

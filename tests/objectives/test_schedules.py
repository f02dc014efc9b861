"""c(gamma) schedules: the SPEC's check values, laws and validation."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from energykit.objectives import Constant, LinearDecay, Piecewise, TruncatedDecay

LEVELS = torch.tensor([0.0, 0.8, 0.9, 0.95, 1.0], dtype=torch.float64)


def test_truncated_decay_check_values():
    torch.testing.assert_close(
        TruncatedDecay()(LEVELS), torch.tensor([4.0, 4.0, 2.0, 1.0, 0.0], dtype=torch.float64)
    )


def test_other_schedules_closed_forms():
    g = torch.linspace(0, 1, 11, dtype=torch.float64)
    torch.testing.assert_close(LinearDecay(2.0)(g), 2.0 * (1 - g))
    torch.testing.assert_close(Constant()(g), torch.ones_like(g))
    p = Piecewise(a=0.5, b=1.4, scale=1.0)(torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0]))
    torch.testing.assert_close(p, torch.tensor([1.4, 1.2, 1.0, 0.5, 0.0]))


@given(
    st.floats(0.0, 0.99),
    st.floats(0.1, 10.0),
    st.lists(st.floats(0.0, 1.0), min_size=2, max_size=20),
)
def test_decays_are_bounded_non_increasing_and_vanish_on_data(a, scale, levels):
    g = torch.tensor(sorted(levels), dtype=torch.float64)
    for c in (TruncatedDecay(a, scale), LinearDecay(scale)):
        values = c(g)
        assert (values >= 0).all() and (values <= scale + 1e-12).all()
        assert (values[1:] <= values[:-1] + 1e-12).all()
        assert float(c(torch.ones(1, dtype=torch.float64))) == 0.0


@given(st.floats(0.05, 0.95), st.floats(0.1, 3.0), st.floats(0.1, 5.0))
def test_piecewise_is_continuous_at_a(a, b, scale):
    c = Piecewise(a, b, scale)
    eps = 1e-9
    left = c(torch.tensor([a - eps], dtype=torch.float64))
    right = c(torch.tensor([a + eps], dtype=torch.float64))
    torch.testing.assert_close(left, right, rtol=0, atol=1e-6 * scale * max(b, 1))
    assert float(c(torch.ones(1, dtype=torch.float64))) == 0.0


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: TruncatedDecay(a=1.0), "TruncatedDecay a: expected 0 <= a < 1, got 1.0"),
        (lambda: TruncatedDecay(scale=0.0), "TruncatedDecay scale: expected a number > 0.0"),
        (lambda: LinearDecay(scale=float("nan")), "LinearDecay scale: expected a finite number"),
        (lambda: Piecewise(a=0.0), "Piecewise a: expected 0 < a < 1"),
        (lambda: Piecewise(b=-1.0), "Piecewise b: expected a number > 0.0"),
        (lambda: Constant(value=-2.0), "Constant value: expected a number > 0.0"),
    ],
)
def test_construction_is_validated(build, message):
    with pytest.raises(ValueError, match=message):
        build()

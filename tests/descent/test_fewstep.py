"""The training-free default for a budget: its formula in the landscape's own units, the
paper's sampler at 250 steps, and the budget counted honestly."""

from __future__ import annotations

import math

import pytest
import torch

from energykit.descent.fewstep import Landscape, default_solver, jump_length, plateau_length
from energykit.fields import Quadratic


@pytest.mark.parametrize(
    ("steps", "p"),
    [(2, 1 + math.log2(0.4) / 4), (3, 1 + math.log2(0.6) / 4), (5, 1.0), (10, 1.25), (20, 1.5)],
)
def test_plateau_length(steps, p):
    assert plateau_length(steps) == pytest.approx(p, rel=1e-12)


@pytest.mark.parametrize(("steps", "j"), [(1, 2.8), (3, 2.4), (4, 2.2), (5, 2.0), (10, 2.0)])
def test_jump_length(steps, j):
    assert jump_length(steps) == pytest.approx(j, rel=1e-12)


@pytest.mark.parametrize("land", [Landscape(), Landscape(0.5, 1.0), Landscape(0.9, 6.0)])
@pytest.mark.parametrize("steps", [2, 3, 5, 10, 49, 249])
def test_plateau_steps_then_one_jump_in_the_landscapes_units(land, steps):
    s = default_solver(steps, land)
    assert s.steps == steps and s.momentum == (0.0,) * steps
    plateau = plateau_length(steps) * land.a / land.scale
    assert math.isclose(sum(s.lr[:-1]), plateau, rel_tol=1e-12)
    assert len(set(s.lr[:-1])) == 1  # equal plateau steps
    assert s.lr[-1] == pytest.approx(jump_length(steps) * (1 - land.a) / land.scale, rel=1e-12)
    assert s.weights[0] == (1.0,) and all(w == (1.5, -0.5) for w in s.weights[1:])  # AB2


@pytest.mark.parametrize("land", [None, Landscape()])
@pytest.mark.parametrize("steps", [250, 500])
def test_the_paper_budget_is_the_papers_sampler(land, steps):
    s = default_solver(steps, land)
    assert s.lr == (0.425 / steps,) * steps and s.momentum == (0.3,) * steps
    assert all(w == (1.0,) for w in s.weights)


def test_no_landscape_gets_the_generic_default_at_any_budget():
    s = default_solver(10, None)
    assert s.lr == (0.425 / 10,) * 10 and s.momentum == (0.3,) * 10


def test_one_step_is_the_jump():
    assert default_solver(1, Landscape()).lr == (pytest.approx(2.8 * 0.2 / 4.0),)


def test_the_default_costs_exactly_its_budget():
    field = Quadratic(torch.eye(4))
    for steps in (3, 5, 10):
        result = default_solver(steps, Landscape()).descender(field).run(torch.randn(8, 4))
        assert result.nfe.tolist() == [steps] * 8


@pytest.mark.parametrize(
    ("a", "scale", "match"),
    [
        (1.0, 4.0, "a: expected a number in"),
        (0.0, 4.0, "a: expected a number >"),
        (0.8, -1.0, "scale: expected a number >"),
    ],
)
def test_a_bad_landscape_is_named(a, scale, match):
    with pytest.raises(ValueError, match=match):
        Landscape(a, scale)

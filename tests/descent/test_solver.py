"""`Solver`: per-step coefficients as data; the descent it runs equals the maths, costs exactly
K evaluations, and a solver file is validated on load and bound to its model."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from energykit.descent import Solver, SolverFileError
from energykit.descent.solver import SOLVER_FORMAT, multistep_solver
from energykit.fields import Quadratic
from tests.helpers import random_spd

FIELD = Quadratic(random_spd(3, 4))
X0 = torch.randn(6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
SOLVER = Solver((0.1, 0.2, 0.05), (0.0, 0.3, 0.1), ((1.0,), (1.4, -0.4), (1.2, -0.3)))


def _maths(s: Solver) -> torch.Tensor:
    x_prev, x, grads = X0.clone(), X0.clone(), []
    for k in range(s.steps):
        grads.insert(0, FIELD.gradient(x + s.momentum[k] * (x - x_prev)))
        d = sum(w * g for w, g in zip(s.weights[k], grads, strict=False))
        x_prev, x = x, x - s.lr[k] * d
    return x


def test_the_descent_is_the_maths_and_costs_k_evaluations():
    result = SOLVER.descender(FIELD).run(X0)
    torch.testing.assert_close(result.x, _maths(SOLVER), rtol=0, atol=1e-14)
    assert result.nfe.tolist() == [3] * len(X0) and result.steps.tolist() == [3] * len(X0)


@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_a_file_round_trip_is_exact(tmp_path_factory, data):
    k = data.draw(st.integers(1, 6))
    num = st.floats(0.0, 2.0, allow_subnormal=False)
    s = Solver(
        tuple(data.draw(st.lists(num, min_size=k, max_size=k))),
        tuple(data.draw(st.lists(num, min_size=k, max_size=k))),
        tuple(
            tuple(data.draw(st.lists(st.floats(-3, 3), min_size=1, max_size=3))) for _ in range(k)
        ),
        {"kind": "eqm"},
        {"seconds": 1.5},
    )
    path = tmp_path_factory.mktemp("s") / "solver.json"
    assert Solver.load(s.save(path)) == s


def _write(tmp_path, raw) -> str:
    path = tmp_path / "bad.json"
    path.write_text(raw if isinstance(raw, str) else json.dumps(raw))
    return str(path)


GOOD = SOLVER.to_dict()


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ("{not json", "not valid JSON"),
        ([1, 2], "expected a JSON object, got list"),
        ({**GOOD, "format": "other/1"}, f"expected format '{SOLVER_FORMAT}'"),
        ({k: v for k, v in GOOD.items() if k != "weights"}, r"missing \['weights'\]"),
        ({**GOOD, "extra": 1}, r"unknown keys \['extra'\]"),
        ({**GOOD, "steps": 4}, "'steps' is 4 but the coefficients have 3"),
        ({**GOOD, "lr": [0.1, -0.2, 0.1]}, r"lr\[1\]: expected a number >= 0.0"),
        ({**GOOD, "momentum": [0.1]}, "momentum: expected 3 per-step values"),
        ({**GOOD, "weights": [[1.0], [1.0]]}, "expected 3 rows"),
        ({**GOOD, "lr": [0.1, "x", 0.1]}, r"lr\[1\]: expected a real number, got str"),
        (json.dumps(GOOD).replace("0.05", "NaN"), "NaN is not a finite number"),
        ({**GOOD, "model": []}, "'model' and 'fit' must be JSON objects"),
    ],
)
def test_a_bad_file_gets_one_line_naming_it(tmp_path, raw, match):
    path = _write(tmp_path, raw)
    with pytest.raises(SolverFileError, match=match) as info:
        Solver.load(path)
    assert "\n" not in str(info.value) and path in str(info.value)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"solver file .*nope.json"):
        Solver.load(tmp_path / "nope.json")


def test_a_solver_is_bound_to_its_model():
    model = {"weights_sha256": "ab" * 32, "kind": "eqm", "shape": [1, 8, 8], "cfg_scale": 1.0}
    s = Solver(SOLVER.lr, SOLVER.momentum, SOLVER.weights, model)
    s.check_model(dict(model))
    other = {**model, "weights_sha256": "cd" * 32}
    with pytest.raises(SolverFileError, match=r"weights_sha256 .* --force uses it anyway"):
        s.check_model(other)
    s.check_model(other, force=True)  # another seed of the same recipe
    with pytest.raises(SolverFileError, match=r"shape \[1, 8, 8\], this model has \[1, 28, 28\]"):
        s.check_model({**other, "shape": [1, 28, 28]}, force=True)


def test_the_solver_fixes_its_own_settings():
    with pytest.raises(TypeError, match="'lr' is fixed by the solver"):
        SOLVER.descender(FIELD, lr=0.1)


def test_multistep_solver_builds_ab_rows():
    s = multistep_solver([0.1] * 4, 0.0, order=3)
    assert [len(r) for r in s.weights] == [1, 2, 3, 3] and s.history == 3

"""Read-backs every `check_every` steps: the same results, counts and errors as reading every
step, only later.

Oracle: the same descent with `check_every=1` (a read every step, the per-step behaviour).
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import Tensor

import energykit as ek
from energykit.descent.descender import DEFAULT_CHECK_EVERY
from energykit.fields import Quadratic
from tests.helpers import Counting

FIELDS = ("x", "steps", "nfe", "grad_norm", "converged", "failed")


class Bowls(ek.EnergyField):
    """Row i in its own bowl $E_i = c_i/2 \\lVert x \\rVert^2$; NaN for rows in `bad` from the
    `after`-th call on (the ids travel as conditioning, so they follow the evaluated rows)."""

    def __init__(self, c: Tensor, bad: set[int] = frozenset(), after: int = 0) -> None:  # type: ignore[assignment]
        super().__init__()
        self.c, self.bad, self.after, self.calls = c, bad, after, 0

    def gradient(self, x: Tensor, **cond: Any) -> Tensor:
        ids = cond["ids"]
        g = self.c[ids][:, None] * x
        if self.calls >= self.after and self.bad:
            hit = torch.isin(ids, torch.tensor(sorted(self.bad)))
            g = torch.where(hit[:, None], torch.full_like(g, float("nan")), g)
        self.calls += 1
        return g


def _same(a: Tensor, b: Tensor) -> bool:
    """Bit-identical, NaN in the same places (a frozen row's gradient norm is NaN)."""
    return (
        a.dtype == b.dtype
        and torch.equal(a.nan_to_num(7.0), b.nan_to_num(7.0))
        and torch.equal(a.isnan(), b.isnan())
    )


def _bowls(**kw: Any) -> Bowls:
    return Bowls(torch.tensor([0.2, 1.0, 3.0, 8.0, 0.5, 2.0], dtype=torch.float64), **kw)


def _x0() -> Tensor:
    return torch.randn(6, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))


def _run(field: ek.EnergyField, every: int, opt: str = "gd", **kw: Any) -> ek.DescentResult:
    common: dict[str, Any] = {"lr": 0.1, "steps": 80, **kw}
    return ek.Descender(field, opt, check_every=every, **common).run(_x0(), ids=torch.arange(6))


@pytest.mark.parametrize("opt", ["gd", "nag", "adam"])
@pytest.mark.parametrize("every", [2, 5, 16, 200])
def test_adaptive_compute_counts_and_values_are_those_of_a_read_every_step(opt, every):
    ref = _run(_bowls(), 1, opt, g_min=1e-2)
    got = _run(_bowls(), every, opt, g_min=1e-2)
    assert bool(ref.converged.any()) and len(set(ref.steps.tolist())) > 2
    for name in FIELDS:
        assert _same(getattr(got, name), getattr(ref, name)), name


@pytest.mark.parametrize("every", [3, 16])
def test_freezing_between_read_backs_is_exact(every):
    ref = _run(_bowls(bad={1, 4}, after=7), 1, "adam", nonfinite="freeze", g_min=1e-3)
    got = _run(_bowls(bad={1, 4}, after=7), every, "adam", nonfinite="freeze", g_min=1e-3)
    assert got.failed.tolist() == [False, True, False, False, True, False]
    for name in FIELDS:
        assert _same(getattr(got, name), getattr(ref, name)), name


def test_stopped_rows_are_evaluated_only_until_the_next_read_back():
    field = Counting(_bowls())
    result = _run(field, 4, g_min=1e-2)
    # Read-backs close steps 3, 7, 11, ...: step k evaluates the rows still active after
    # step k - k % 4 - 1, those that stopped at step k - k % 4 or later (nfe > k - k % 4).
    for k, calls in enumerate(field.calls):
        assert calls == int((result.nfe > k - k % 4).sum()), k
    assert sum(field.calls) > result.nfe_total


@pytest.mark.parametrize("kw", [{}, {"g_min": 1e-9}])
@pytest.mark.parametrize("every", [1, 16])
def test_a_nan_gradient_names_its_step_and_rows(kw, every):
    field = _bowls(bad={2, 5}, after=3)
    with pytest.raises(
        FloatingPointError, match=r"non-finite gradient at step 3 in samples \[2, 5\]"
    ):
        _run(field, every, **kw)
    assert every == 1 or field.calls == 16  # raised at the first read-back after the NaN


@pytest.mark.parametrize("kw", [{}, {"g_min": 1e-9}])
@pytest.mark.parametrize("every", [1, 7, 50])
def test_an_overflow_names_its_step_and_rows(kw, every):
    field = Quadratic(torch.diag(torch.tensor([1e100, 1.0], dtype=torch.float64)))
    x0 = torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.0, 0.0]], dtype=torch.float64)
    messages = []
    for e in (1, every):
        with pytest.raises(FloatingPointError) as err:
            ek.Descender(field, "gd", lr=1e100, steps=40, check_every=e, **kw).run(x0)
        messages.append(str(err.value))
    assert messages[0] == messages[1]
    # Adaptive compute checks the gradient's norm, which overflows at step 1 too.
    want = "non-finite gradient at step 1 in samples [1]" if kw else "samples became"
    assert want in messages[0] and "step 1" in messages[0] and "[1]" in messages[0]


def test_all_rows_stopped_ends_at_the_next_read_back():
    field = Counting(Quadratic(torch.eye(2, dtype=torch.float64)))
    result = ek.Descender(field, "gd", lr=0.5, steps=50, g_min=1e-3, check_every=5).run(
        torch.ones(3, 2, dtype=torch.float64)
    )
    # gd with lr 1/2 on a unit bowl halves x each step; all rows stop at step 11.
    assert result.steps.tolist() == [11, 11, 11] and result.nfe.tolist() == [12, 12, 12]
    assert len(field.calls) == 15


def test_default_period():
    x0 = _x0()
    assert ek.Descender(_bowls(), "gd").start(x0, ids=torch.arange(6)).check_every == 16
    assert DEFAULT_CHECK_EVERY == 16
    for kw in ({"g_min": 0.1}, {"nonfinite": "freeze"}):
        # On the CPU a read costs no device sync: rows that stop leave the batch at once.
        assert ek.Descender(_bowls(), "gd", **kw).start(x0, ids=torch.arange(6)).check_every == 1


@pytest.mark.parametrize(("value", "error"), [(0, ValueError), (True, TypeError), (2.0, TypeError)])
def test_check_every_is_checked(value, error):
    with pytest.raises(error, match="check_every"):
        ek.Descender(_bowls(), check_every=value)

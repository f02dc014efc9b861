"""`Descender(progress=...)`: a bar over the steps of `run`, fed without host reads."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import energykit as ek
from energykit.fields import Gaussian
from tests.descent.test_host_reads import Poison, _count


class FakeBar:
    """A tqdm-like bar that records what it is told."""

    def __init__(self, total: int) -> None:
        self.total, self.n, self.postfixes, self.closed = total, 0, [], False

    def update(self, n: int) -> None:
        self.n += n

    def set_postfix(self, **values: Any) -> None:
        self.postfixes.append(values)

    def close(self) -> None:
        self.closed = True


def _factory(bars: list[FakeBar]) -> Any:
    def factory(total: int) -> FakeBar:
        bars.append(FakeBar(total))
        return bars[-1]

    return factory


def test_bar_counts_every_step_and_closes():
    bars: list[FakeBar] = []
    d = ek.Descender(Gaussian(torch.zeros(2)), "gd", lr=0.1, steps=12, progress=_factory(bars))
    d.run(torch.randn(4, 2))
    (bar,) = bars
    assert (bar.total, bar.n, bar.closed) == (12, 12, True)
    assert bar.postfixes == []  # a fixed budget: no row can stop, nothing to show


def test_postfix_shows_stopped_rows_at_read_backs_only():
    bars: list[FakeBar] = []
    field = Gaussian(torch.zeros(2))
    d = ek.Descender(
        field, "gd", lr=0.5, steps=40, g_min=1e-3, check_every=4, progress=_factory(bars)
    )
    result = d.run(torch.randn(8, 2, generator=torch.Generator().manual_seed(0)))
    (bar,) = bars
    assert bool(result.converged.all())
    assert bar.n < 40 and bar.n % 4 == 0  # the run ends at the read-back that sees all stop
    assert bar.postfixes[0] == {"stopped": 0, "failed": 0}
    assert bar.postfixes[-1] == {"stopped": int(result.converged.sum()), "failed": 0}
    assert len(bar.postfixes) <= bar.n // 4 + 1  # refreshed at read-backs, only on change


def test_bar_is_closed_when_the_descent_raises():
    bars: list[FakeBar] = []
    d = ek.Descender(Poison(after=2), "gd", lr=0.1, steps=8, progress=_factory(bars))
    with pytest.raises(FloatingPointError):
        d.run(torch.randn(4, 2), ids=torch.arange(4))
    assert bars[0].closed


@pytest.mark.parametrize("kw", [{}, {"g_min": 0.1}, {"nonfinite": "freeze"}])
def test_bar_adds_no_host_read(kw, monkeypatch):
    field = Poison(after=10**9)
    x0 = torch.randn(8, 2, generator=torch.Generator().manual_seed(0))

    def reads(progress: Any) -> list[str]:
        d = ek.Descender(field, "nag", lr=0.1, steps=64, check_every=16, progress=progress, **kw)
        return _count(lambda: d.run(x0, ids=torch.arange(8)), monkeypatch)

    assert reads(_factory([])) == reads(False)


def test_progress_true_draws_a_tqdm_bar(capsys):
    pytest.importorskip("tqdm")
    d = ek.Descender(Gaussian(torch.zeros(2)), "gd", lr=0.1, steps=5, progress=True)
    d.run(torch.randn(3, 2))
    assert "5/5" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["yes", 1, None])
def test_progress_must_be_a_bool_or_a_factory(bad):
    with pytest.raises(TypeError, match="Descender progress: expected True, False or"):
        ek.Descender(Gaussian(torch.zeros(2)), "gd", progress=bad)


def test_same_samples_with_and_without_a_bar():
    field = Gaussian(torch.zeros(2))
    x0 = torch.randn(6, 2)
    plain = ek.Descender(field, "nag", lr=0.1, steps=10, g_min=0.5).run(x0)
    shown = ek.Descender(field, "nag", lr=0.1, steps=10, g_min=0.5, progress=_factory([])).run(x0)
    assert torch.equal(plain.x, shown.x) and torch.equal(plain.steps, shown.steps)

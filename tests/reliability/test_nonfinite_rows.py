"""One bad sample does not cost the batch: `Descender(nonfinite="freeze")` and sampling.

Oracle: a row poisoned with NaN is frozen, and every other row ends bit-identical to a run on
the batch without that row (per-element optimisers); the frozen row holds the iterate of a
clean run stopped at the step where the poison struck.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import torch
from torch import Tensor

import energykit as ek
from energykit.fields import GaussianMixture, Quadratic
from energykit.sampling import generate, load_samples, sample_to_file
from energykit.train import Trainer, load_config
from tests.helpers import Counting

D = 3


class Poisoned(ek.EnergyField):
    """Wraps a field; from its `after`-th call on, returns NaN for the rows whose `ids` are
    in `bad` (the ids travel as conditioning, so they follow the rows the Descender keeps)."""

    def __init__(self, inner: ek.EnergyField, bad: set[int], after: int, value: float) -> None:
        super().__init__()
        self.inner, self.bad, self.after, self.value = inner, bad, after, value
        self.calls = 0

    def gradient(self, x: Tensor, **cond: Any) -> Tensor:
        ids = cond.pop("ids")
        g = self.inner.gradient(x, **cond)
        if self.calls >= self.after:
            hit = torch.tensor([int(i) in self.bad for i in ids])
            g = torch.where(hit[:, None], torch.full_like(g, self.value), g)
        self.calls += 1
        return g


def _field() -> ek.EnergyField:
    a = torch.tensor([[2.0, 0.5, 0.0], [0.5, 1.0, 0.3], [0.0, 0.3, 1.5]], dtype=torch.float64)
    means = torch.tensor([[1.0, -1.0, 0.5], [-1.0, 0.5, 0.0]], dtype=torch.float64)
    return Quadratic(a) + GaussianMixture(means, torch.tensor([0.7, 1.1], dtype=torch.float64))


def _x0(b: int = 6) -> Tensor:
    return torch.randn(b, D, dtype=torch.float64, generator=torch.Generator().manual_seed(3))


OPTIMISERS = [
    pytest.param("gd", {}, id="sgd"),
    pytest.param("sgd", {"momentum": 0.9}, id="sgd-momentum"),
    pytest.param("nag", {"momentum": 0.3}, id="naggd"),
    pytest.param("adam", {}, id="adam"),
    pytest.param("rmsprop", {}, id="rmsprop"),
]


@pytest.mark.parametrize(("opt", "kw"), OPTIMISERS)
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
@pytest.mark.parametrize("g_min", [None, 1e-3])
def test_frozen_row_leaves_the_others_bit_identical(opt, kw, value, g_min):
    x0, k, s, steps = _x0(), 2, 4, 12
    ids = torch.arange(len(x0))
    poisoned = Poisoned(_field(), {k}, after=s, value=value)
    common = {"lr": 0.05, "steps": steps, "g_min": g_min, **kw}
    got = ek.Descender(poisoned, opt, nonfinite="freeze", **common).run(x0, ids=ids)
    keep = ids != k
    clean = Poisoned(_field(), set(), after=0, value=value)
    ref = ek.Descender(clean, opt, **common).run(x0[keep], ids=ids[keep])
    assert got.failed.tolist() == [i == k for i in range(len(x0))]
    for name in ("x", "steps", "nfe", "grad_norm", "converged"):
        assert torch.equal(getattr(got, name)[keep], getattr(ref, name)), name
    # The frozen row holds the clean iterate after `s` steps; it was evaluated s + 1 times.
    upto = ek.Descender(clean, opt, **{**common, "steps": s}).run(x0, ids=ids)
    assert torch.equal(got.x[k], upto.x[k])
    assert got.steps[k] == s and got.nfe[k] == s + 1 and not got.converged[k]
    assert not torch.isfinite(got.grad_norm[k])
    assert got.n_failed == 1


def test_default_still_raises_naming_the_row():
    poisoned = Poisoned(_field(), {4}, after=2, value=float("nan"))
    with pytest.raises(FloatingPointError, match=r"non-finite gradient at step 2 in samples \[4\]"):
        ek.Descender(poisoned, "gd", lr=0.05, steps=5).run(_x0(), ids=torch.arange(6))


def test_a_frozen_row_is_not_evaluated_again():
    counting = Counting(Poisoned(_field(), {0, 5}, after=1, value=float("nan")))
    result = ek.Descender(counting, "adam", lr=0.05, steps=5, nonfinite="freeze").run(
        _x0(), ids=torch.arange(6)
    )
    assert counting.calls == [6, 6, 4, 4, 4]
    assert result.failed.tolist() == [True, False, False, False, False, True]
    assert result.nfe.tolist() == [2, 5, 5, 5, 5, 2]


def test_an_overflowing_update_freezes_the_row_at_its_last_finite_value():
    # lr * curvature = 1e300: only sample 1 (off the minimum in the stiff direction) overflows.
    field = Quadratic(torch.diag(torch.tensor([1e300, 1.0], dtype=torch.float64)))
    x0 = torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.0, 0.5]], dtype=torch.float64)
    result = ek.Descender(field, "gd", lr=1.0, steps=6, nonfinite="freeze").run(x0)
    assert result.failed.tolist() == [False, True, False]
    assert torch.isfinite(result.x).all()
    with pytest.raises(FloatingPointError, match=r"samples"):
        ek.Descender(field, "gd", lr=1.0, steps=6).run(x0)


def test_every_row_failing_ends_the_run():
    poisoned = Poisoned(_field(), set(range(6)), after=3, value=float("nan"))
    result = ek.Descender(poisoned, "nag", lr=0.05, steps=50, nonfinite="freeze").run(
        _x0(), ids=torch.arange(6)
    )
    assert result.failed.all() and (result.steps == 3).all() and poisoned.calls == 4


def test_manual_stepping_and_callback_see_failed_rows():
    seen: list[list[bool]] = []
    poisoned = Poisoned(_field(), {1}, after=2, value=float("nan"))
    d = ek.Descender(
        poisoned,
        "adam",
        lr=0.05,
        steps=4,
        nonfinite="freeze",
        callback=lambda info: seen.append(info.failed.tolist()),
    )
    state = d.start(_x0(3), ids=torch.arange(3))
    while not state.done:
        info = d.step(state)
    assert seen[1] == [False, False, False] and seen[2] == [False, True, False]
    assert info.active.tolist() == [True, False, True] and state.n_failed == 1


def test_lbfgs_rows_do_not_spread_nan_and_nfe_counts_every_closure_call():
    counting = Counting(Poisoned(_field(), {3}, after=3, value=float("nan")))
    result = ek.Descender(counting, "lbfgs", lr=0.1, steps=5, nonfinite="freeze").run(
        _x0(), ids=torch.arange(6)
    )
    assert result.failed.tolist() == [False, False, False, True, False, False]
    assert torch.isfinite(result.x).all()
    assert result.nfe_total == sum(counting.calls)


def test_nonfinite_mode_is_checked():
    with pytest.raises(ValueError, match=r"nonfinite: expected one of \['raise', 'freeze'\]"):
        ek.Descender(_field(), nonfinite="skip")  # type: ignore[arg-type]


# Sampling to files ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained():
    tiny = ["net.width=32", "net.depth=1", "train.batch=16", "train.steps=2"]
    trainer = Trainer(
        load_config(None, [*tiny, "data.class_conditional=true"]), None, progress=False
    )
    trainer.fit()
    return trainer.trained()


class PoisonLabel(ek.EnergyField):
    """The trained field, NaN for every sample of class `label` from the second call on."""

    def __init__(self, inner: ek.EnergyField, label: int) -> None:
        super().__init__()
        self.inner, self.poison, self.calls = inner, label, 0

    def gradient(self, x: Tensor, **cond: Any) -> Tensor:
        g = self.inner.gradient(x, **cond)
        self.calls += 1
        if self.calls > 1:
            hit = (cond["y"] == self.poison).reshape(-1, *([1] * (x.ndim - 1)))
            g = torch.where(hit, torch.full_like(g, float("nan")), g)
        return g


@pytest.mark.parametrize("suffix", [".pt", ".npz"])
def test_sample_to_file_lists_failed_samples_in_global_order(trained, tmp_path, suffix):
    # 23 samples in batches of 4, labels i % 10: class 3 is at global indices 3 and 13.
    field = PoisonLabel(trained.field(), label=3)
    model = trained.with_field(field)
    cfg = dataclasses.replace(trained.config.sample, n=23, batch=4, steps=3, nonfinite="freeze")
    out = tmp_path / f"s{suffix}"
    with pytest.warns(RuntimeWarning, match=r"2 of 23 samples hit NaN/inf.*\[3, 13\]"):
        summary = sample_to_file(model, out, cfg, progress=False)
    x, meta = load_samples(out)
    assert meta["failed_indices"] == [3, 13] and meta["failed_count"] == 2
    assert summary["failed_indices"] == [3, 13] and summary["failed_count"] == 2
    assert x.shape[0] == 23 and torch.isfinite(x).all()
    clean = dataclasses.replace(trained.config.sample, n=23, batch=4, steps=3)
    ref, ref_meta = load_samples(
        sample_to_file(trained, tmp_path / f"r{suffix}", clean, progress=False)["out"]
    )
    assert ref_meta["failed_indices"] == [] and ref_meta["failed_count"] == 0
    # Batches without a failure are untouched; in the two with one, the net sees 3 rows
    # instead of 4 after the poison, which a conv net may round differently.
    clean_batches = [i for i in range(23) if i // 4 not in (0, 3)]
    assert torch.equal(x[clean_batches], ref[clean_batches])
    keep = torch.ones(23, dtype=torch.bool)
    keep[[3, 13]] = False
    torch.testing.assert_close(x[keep], ref[keep], rtol=1e-5, atol=1e-5)
    with pytest.raises(FloatingPointError, match="non-finite gradient"):
        sample_to_file(model, tmp_path / f"raise{suffix}", clean, progress=False)


def test_generate_reports_failed_rows(trained):
    field = PoisonLabel(trained.field(), label=1)
    cfg = dataclasses.replace(trained.config.sample, n=5, batch=5, steps=2, nonfinite="freeze")
    s = generate(field, trained.shape, cfg, num_classes=10)
    assert s.failed is not None and s.failed.tolist() == [False, True, False, False, False]


def test_cli_flag_reaches_the_config():
    from energykit.cli import build_parser

    args = build_parser().parse_args(["sample", "ck.pt", "--out", "s.pt", "--nonfinite", "freeze"])
    assert args.nonfinite == "freeze"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["sample", "ck.pt", "--out", "s.pt", "--nonfinite", "skip"])

"""Minibatch OT couplings against oracles: brute force over permutations, matrix-scaling
Sinkhorn written from the maths, and the laws every pairing must keep."""

from __future__ import annotations

import itertools
import sys
import typing
import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from energykit.objectives import (
    COUPLING_NAMES,
    EqMLoss,
    ExactOT,
    FlowMatchingLoss,
    Independent,
    Sinkhorn,
    coupling_named,
)
from energykit.objectives.coupling import (
    DEFAULT_ITERATIONS,
    DEFAULT_REG,
    centred_cost,
    draw_partners,
    sinkhorn_plan,
)
from energykit.train.config import ConfigError, load_config
from energykit.train.sections import CouplingName, ObjectiveConfig
from tests.helpers import Fixed


def _pair(b: int, shape: tuple[int, ...] = (3,), seed: int = 0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, *shape, generator=g, dtype=dtype) * 2 + 1
    return x, torch.randn(b, *shape, generator=g, dtype=dtype)


def _cost(x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """$C_{ij} = ||x_i - n_j||^2$ by broadcasting (the oracle's cost)."""
    return (x.flatten(1)[:, None, :] - noise.flatten(1)[None, :, :]).square().sum(-1)


def _total(x: torch.Tensor, paired: torch.Tensor) -> float:
    return float((x - paired).square().sum())


@pytest.mark.parametrize("b", [1, 2, 3, 4, 5, 6])
@pytest.mark.parametrize("shape", [(3,), (1, 2, 2)])
def test_exact_ot_is_the_best_permutation_by_brute_force(b, shape):
    x, noise = _pair(b, shape, seed=b)
    cost = _cost(x, noise)
    best = min(itertools.permutations(range(b)), key=lambda p: float(cost[range(b), p].sum()))
    torch.testing.assert_close(ExactOT()(x, noise), noise[list(best)], rtol=0, atol=0)


@settings(max_examples=40, deadline=None)
@given(b=st.integers(1, 24), d=st.integers(1, 9), seed=st.integers(0, 2**16))
def test_exact_ot_permutes_the_noise_and_never_raises_the_cost(b, d, seed):
    x, noise = _pair(b, (d,), seed)
    paired = ExactOT()(x, noise)
    assert torch.equal(paired.sort(0).values, noise.sort(0).values)  # the same rows
    assert len({tuple(r.tolist()) for r in paired}) == b  # each once
    assert _total(x, paired) <= _total(x, noise) + 1e-9 * (1 + _total(x, noise))


def test_exact_ot_ignores_bf16_autocast_and_keeps_float32():
    x, noise = _pair(64, (8,), dtype=torch.float32)
    plain = ExactOT()(x, noise)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(ExactOT()(x, noise), plain)
    assert plain.dtype == torch.float32


def test_exact_ot_without_scipy_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "scipy.optimize", None)
    with pytest.raises(ImportError, match=r"coupling 'ot' needs SciPy: pip install -e '\.\[ot\]'"):
        ExactOT()


def _scaling_sinkhorn(cost: torch.Tensor, eps: float, iterations: int) -> torch.Tensor:
    """The textbook matrix-scaling iteration $u = a / (K v)$, $v = b / (K^T u)$, $K =
    e^{-C/\\varepsilon}$, float64 (the oracle of the log-domain one)."""
    n, m = cost.shape
    k = torch.exp(-cost / eps)
    u, v = torch.ones(n, dtype=cost.dtype), torch.ones(m, dtype=cost.dtype)
    for _ in range(iterations):
        u = (1 / n) / (k @ v)
        v = (1 / m) / (k.T @ u)
    return u[:, None] * k * v[None, :]


@pytest.mark.parametrize("iterations", [1, 5, 50])
def test_log_domain_sinkhorn_is_matrix_scaling(iterations):
    x, noise = _pair(7, (4,))
    cost = _cost(x, noise)
    eps = 0.3 * float(cost.std())
    plan = sinkhorn_plan(cost, eps, iterations).exp()
    torch.testing.assert_close(plan, _scaling_sinkhorn(cost, eps, iterations), rtol=1e-10, atol=0)


def test_sinkhorn_marginals_converge_to_uniform():
    x, noise = _pair(32, (5,))
    cost = centred_cost(x, noise)
    eps = 0.2 * cost.std()
    errors = []
    for iterations in (1, 10, 100, 1000):
        plan = sinkhorn_plan(cost, eps, iterations).exp()
        torch.testing.assert_close(plan.sum(0), torch.full((32,), 1 / 32, dtype=torch.float64))
        errors.append(float((plan.sum(1) * 32 - 1).abs().max()))
    assert errors == sorted(errors, reverse=True) and errors[0] > 1e-2
    assert errors[-1] < 1e-10


def test_the_centred_cost_has_the_same_plans():
    """Row and column constants do not change the plan: the centred cost gives the plan of
    the squared distances."""
    x, noise = _pair(9, (3,))
    full, centred = _cost(x, noise), centred_cost(x, noise)
    assert (
        float((centred.mean(0)).abs().max()) < 1e-12 and float(centred.mean(1).abs().max()) < 1e-12
    )
    torch.testing.assert_close(
        sinkhorn_plan(full, 2.0, 300), sinkhorn_plan(centred, 2.0, 300), rtol=1e-8, atol=1e-12
    )


def test_sinkhorn_limits_are_exact_ot_and_independence():
    x, noise = _pair(6, (3,))
    cost = centred_cost(x, noise)
    sharp = sinkhorn_plan(cost, 2e-3 * cost.std(), 3000).exp() * 6  # rows sum to ~1
    columns = _ot_columns(x, noise)
    assert sharp.argmax(1).tolist() == columns
    assert float(sharp[range(6), columns].min()) > 0.9
    blurred = sinkhorn_plan(cost, 1e4 * cost.std(), 10).exp()
    torch.testing.assert_close(
        blurred, torch.full((6, 6), 1 / 36, dtype=torch.float64), rtol=1e-3, atol=0
    )


def _ot_columns(x: torch.Tensor, noise: torch.Tensor) -> list[int]:
    paired = ExactOT()(x, noise)
    return [int((noise == row).all(1).nonzero()) for row in paired]


@settings(max_examples=20, deadline=None)
@given(b=st.integers(2, 16), seed=st.integers(0, 2**16), reg=st.floats(0.2, 5.0))
def test_the_entropic_plan_never_costs_more_than_independence(b, seed, reg):
    """The product plan $1/B^2$ is feasible and has the most entropy, so the entropic
    optimum's transport cost is at most the independent pairing's expected cost."""
    x, noise = _pair(b, (4,), seed)
    cost = _cost(x, noise)
    centred = centred_cost(x, noise)
    plan = sinkhorn_plan(centred, reg * centred.std(), 200).exp()
    torch.testing.assert_close(plan.sum(1), torch.full((b,), 1 / b, dtype=torch.float64))
    assert float((plan * cost).sum()) <= float(cost.mean()) * (1 + 1e-9)


def test_partners_are_drawn_from_the_plan_rows():
    probs = torch.tensor([[0.7, 0.2, 0.1], [0.0, 0.5, 0.5]], dtype=torch.float64)
    rows = probs.log().repeat_interleave(20000, dim=0)  # (40000, 3)
    drawn = draw_partners(rows, torch.Generator().manual_seed(0)).reshape(2, 20000)
    freq = torch.stack([torch.bincount(r, minlength=3) for r in drawn]).double() / 20000
    # 20,000 draws: the standard error of a frequency is at most 0.0035; 4 of them.
    torch.testing.assert_close(freq, probs, rtol=0, atol=0.014)
    assert int((drawn[1] == 0).sum()) == 0  # zero weight: never drawn


def test_sinkhorn_draws_rows_of_the_noise_and_is_seeded():
    x, noise = _pair(16, (2, 3))
    coupling = Sinkhorn()
    a = coupling(x, noise, torch.Generator().manual_seed(4))
    b = coupling(x, noise, torch.Generator().manual_seed(4))
    c = coupling(x, noise, torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and not torch.equal(a, c)
    flat_noise = noise.flatten(1)
    assert all((flat_noise == row).all(1).any() for row in a.flatten(1))
    assert _total(x, a) < _total(x, noise)  # at this size it pairs far better than chance


def test_sinkhorn_on_a_degenerate_batch_pairs_uniformly_without_warning():
    # Identical data rows: every pairing costs the same, so the plan is uniform and the
    # partners are drawn at random (not every row with noise[0], as a zero eps would give).
    noise = torch.randn(64, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x = torch.zeros(64, 4, dtype=torch.float64)
    log_plan = sinkhorn_plan(centred_cost(x, noise), 1.0, 10)
    torch.testing.assert_close(log_plan.exp(), torch.full((64, 64), 1 / 64**2, dtype=x.dtype))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # std() of one sample warns; the coupling must not
        paired = Sinkhorn()(x, noise, torch.Generator().manual_seed(1))
        one = Sinkhorn()(x[:1], noise[:1], torch.Generator().manual_seed(1))
    assert torch.isfinite(paired).all() and torch.equal(one, noise[:1])
    drawn = {int((noise == row).all(1).nonzero()) for row in paired}
    assert len(drawn) > 32  # 64 uniform draws from 64 rows: about 41 distinct, never 1


def test_independent_is_the_identity_and_draws_nothing():
    x, noise = _pair(5)
    g = torch.Generator().manual_seed(1)
    assert Independent()(x, noise, g) is noise
    assert torch.equal(
        torch.rand(3, generator=g), torch.rand(3, generator=torch.Generator().manual_seed(1))
    )


def test_the_config_literal_and_defaults_are_the_table():
    assert typing.get_args(CouplingName) == COUPLING_NAMES == ("none", "ot", "sinkhorn")
    assert [type(coupling_named(n)) for n in COUPLING_NAMES] == [Independent, ExactOT, Sinkhorn]
    cfg = ObjectiveConfig()
    assert (cfg.coupling, cfg.sinkhorn_reg, cfg.sinkhorn_iterations) == (
        "none",
        DEFAULT_REG,
        DEFAULT_ITERATIONS,
    )


@pytest.mark.parametrize("loss", [EqMLoss, FlowMatchingLoss])
def test_an_unknown_coupling_is_one_line_naming_the_choices(loss):
    with pytest.raises(
        ValueError, match=r"coupling: expected one of none, ot, sinkhorn, got 'ott'"
    ) as err:
        loss(coupling="ott")
    assert "\n" not in str(err.value) and loss.__name__ in str(err.value)
    with pytest.raises(TypeError, match="expected a Coupling or one of none, ot, sinkhorn"):
        loss(coupling=3)
    with pytest.raises(ConfigError) as cfg_err:
        load_config(None, ["objective.coupling=ott"])
    assert str(cfg_err.value) == (
        "objective.coupling: expected one of 'none', 'ot', 'sinkhorn', got 'ott'"
    )


def test_eqm_with_ot_is_eqm_on_the_optimally_permuted_noise():
    x, noise = _pair(5, (3,))
    gamma = torch.tensor([0.1, 0.5, 0.85, 0.9, 0.99], dtype=torch.float64)
    best = noise[_brute_force(x, noise)]
    seen = {}

    class Spy(Fixed):
        def gradient(self, z, **cond):
            seen.update(cond)
            return super().gradient(z, **cond)

    y = torch.arange(5)
    coupled = EqMLoss(coupling="ot")(Spy(x), x, gamma=gamma, noise=noise, y=y)
    oracle = EqMLoss()(Fixed(x), x, gamma=gamma, noise=best)
    torch.testing.assert_close(coupled.loss, oracle.loss, rtol=0, atol=0)
    assert torch.equal(seen["y"], y)  # labels stay with their data rows


def test_fm_with_ot_regresses_the_coupled_velocity():
    x, noise = _pair(6, (2,))
    best = noise[_brute_force(x, noise)]
    out = FlowMatchingLoss(coupling=ExactOT())(lambda z, t: x - best, x, noise=noise)
    assert float(out.loss) == 0.0


def _brute_force(x: torch.Tensor, noise: torch.Tensor) -> list[int]:
    cost = _cost(x, noise)
    b = x.shape[0]
    return list(min(itertools.permutations(range(b)), key=lambda p: float(cost[range(b), p].sum())))


@pytest.mark.parametrize("coupling", [Independent(), Sinkhorn(iterations=5)])
def test_device_couplings_read_nothing_back(monkeypatch, coupling):
    """No host read from Python in the device couplings (`.item()`, `bool(t)`, ...): what
    would be a host-device synchronisation on an accelerator."""
    x, noise = _pair(8, (3,), dtype=torch.float32)

    def refuse(*args, **kwargs):
        raise AssertionError("host read")

    for name in ("item", "tolist", "numpy", "cpu", "__bool__", "__float__", "__int__"):
        monkeypatch.setattr(torch.Tensor, name, refuse)
    out = coupling(x, noise, torch.Generator().manual_seed(0))
    monkeypatch.undo()
    assert out.shape == noise.shape

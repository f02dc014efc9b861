"""Denoising, OOD scores, inpainting and composition against closed-form oracles."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import energykit as ek
from energykit.fields import Gaussian, GaussianMixture, NoEnergyError
from energykit.metrics import aupr, auroc, fpr_at_tpr
from energykit.tasks import denoise, inpaint, noise, ood_scores

D = torch.float64


def _cov(seed: int, d: int) -> torch.Tensor:
    a = torch.randn(d, d, generator=torch.Generator().manual_seed(seed), dtype=D)
    return a @ a.T + d * torch.eye(d, dtype=D)


def test_noise_is_the_interpolant():
    x = torch.randn(4, 3, dtype=D)
    assert torch.equal(noise(x, 1.0), x)
    eps = torch.randn((4, 3), generator=torch.Generator().manual_seed(5), dtype=D)
    pure = noise(x, 0.0, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(pure, eps, rtol=0, atol=0)
    g = torch.tensor([0.0, 0.25, 0.5, 1.0], dtype=D)
    got = noise(x, g, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(got, g[:, None] * x + (1 - g[:, None]) * eps)
    with pytest.raises(ValueError, match=r"gamma: expected values in \[0, 1\]"):
        noise(x, 1.5)
    with pytest.raises(ValueError, match=r"gamma: expected a number or shape \(4,\)"):
        noise(x, torch.ones(3))


@pytest.mark.parametrize("gamma", [0.3, [0.0, 0.25, 0.5, 1.0]])
def test_noise_draws_as_the_objectives_interpolant(gamma):
    # Same generator state, same draws: exactly the interpolant EqMLoss builds for these levels.
    from energykit.objectives import Independent
    from energykit.objectives.interpolant import draw_batch

    x = torch.randn(4, 2, 3, dtype=D)
    levels = torch.as_tensor(gamma, dtype=D).expand(4)
    got = noise(x, torch.as_tensor(gamma, dtype=D), generator=torch.Generator().manual_seed(7))
    g = torch.Generator().manual_seed(7)
    want, _, eps = draw_batch(x, levels, None, g, "gamma", Independent())
    assert torch.equal(got, want)
    manual = ek.objectives.interpolate(
        x, ek.objectives.draw_noise(x, torch.Generator().manual_seed(7)), levels
    )
    assert torch.equal(got, manual) and torch.equal(
        eps, ek.objectives.draw_noise(x, torch.Generator().manual_seed(7))
    )


def test_denoise_returns_to_the_nearest_mixture_mode():
    means = torch.tensor([[-4.0, 0.0], [4.0, 0.0], [0.0, 4.0]], dtype=D)
    field = GaussianMixture(means, 0.5)
    g = torch.Generator().manual_seed(0)
    which = torch.randint(3, (60,), generator=g)
    start = means[which] + 0.8 * torch.randn(60, 2, generator=g, dtype=D)
    result = denoise(field, start, optimizer="gd", lr=0.05, steps=400)
    torch.testing.assert_close(result.x, means[which], rtol=0, atol=1e-6)
    # Adaptive compute: already-clean inputs stop at once.
    clean = denoise(field, means, optimizer="gd", lr=0.05, steps=400, g_min=1e-3)
    assert clean.steps.tolist() == [0, 0, 0]


def test_ood_scores_separate_separable_sets_perfectly():
    field = Gaussian(torch.zeros(3, dtype=D), _cov(0, 3))
    g = torch.Generator().manual_seed(1)
    inside = 0.3 * torch.randn(50, 3, generator=g, dtype=D)
    outside = 8 + torch.randn(40, 3, generator=g, dtype=D)
    for method, extra in [
        ("energy", {}),
        ("grad_norm", {}),
        ("descent_distance", {"lr": 0.05, "steps": 20}),
        ("descent_steps", {"lr": 0.05, "steps": 200, "g_min": 0.2}),
    ]:
        s_in = ood_scores(field, inside, method=method, **extra)
        s_out = ood_scores(field, outside, method=method, **extra)
        assert s_in.shape == (50,) and auroc(s_in, s_out) == 1.0, method
        assert fpr_at_tpr(s_in, s_out) == 0.0 and aupr(s_in, s_out) == pytest.approx(1.0)
    torch.testing.assert_close(ood_scores(field, inside), field.energy(inside))


def test_ood_energy_on_an_implicit_field_names_the_alternatives():
    field = ek.ImplicitField(torch.nn.Linear(3, 3))
    with pytest.raises(NoEnergyError, match="method='grad_norm', 'descent_distance'"):
        ood_scores(field, torch.randn(2, 3))
    with pytest.raises(ValueError, match="expected one of"):
        ood_scores(field, torch.randn(2, 3), method="likelihood")
    with pytest.raises(ValueError, match="expected g_min"):
        ood_scores(field, torch.randn(2, 3), method="descent_steps")


@given(
    st.lists(st.integers(0, 6), min_size=1, max_size=15),
    st.lists(st.integers(0, 6), min_size=1, max_size=15),
)
def test_auroc_is_the_pairwise_probability_with_half_ties(a, b):
    sa, sb = torch.tensor(a, dtype=D), torch.tensor(b, dtype=D)
    pairs = [(1.0 if y > x else 0.5 if y == x else 0.0) for x in a for y in b]
    assert auroc(sa, sb) == pytest.approx(sum(pairs) / len(pairs), abs=1e-12)


@given(
    st.lists(st.integers(0, 6), min_size=1, max_size=15),
    st.lists(st.integers(0, 6), min_size=1, max_size=15),
)
def test_aupr_and_fpr_match_hand_loops(a, b):
    sa, sb = torch.tensor(a, dtype=D), torch.tensor(b, dtype=D)
    # AP: over distinct thresholds, highest first, (recall step) x precision.
    ap, prev = 0.0, 0.0
    for t in sorted(set(a + b), reverse=True):
        tp = sum(v >= t for v in b)
        chosen = tp + sum(v >= t for v in a)
        ap += (tp / len(b) - prev) * tp / chosen
        prev = tp / len(b)
    assert aupr(sa, sb) == pytest.approx(ap, abs=1e-12)
    k = -(-95 * len(a) // 100)  # ceil(0.95 n)
    threshold = sorted(a)[k - 1]
    assert fpr_at_tpr(sa, sb) == pytest.approx(sum(v <= threshold for v in b) / len(b))


def test_inpainting_a_gaussian_gives_the_conditional_mean():
    mu, cov = torch.tensor([1.0, -1.0, 0.5, 2.0], dtype=D), _cov(3, 4)
    field = Gaussian(mu, cov)
    x = torch.randn(5, 4, generator=torch.Generator().manual_seed(2), dtype=D)
    mask = torch.tensor([1.0, 0.0, 1.0, 0.0], dtype=D)
    out = inpaint(field, x, mask, optimizer="gd", lr=0.1, steps=2000).x
    k, u = [0, 2], [1, 3]
    want = mu[u] + (x[:, k] - mu[k]) @ torch.linalg.solve(cov[k][:, k], cov[k][:, u])
    torch.testing.assert_close(out[:, u], want, rtol=0, atol=1e-8)
    assert torch.equal(out[:, k], x[:, k])
    with pytest.raises(ValueError, match="mask: expected only 0"):
        inpaint(field, x, 0.5 * mask)
    with pytest.raises(ValueError, match="broadcastable"):
        inpaint(field, x, torch.ones(3))


def test_a_sum_of_gaussians_descends_to_the_product_of_experts_mode():
    m1, m2 = torch.tensor([2.0, 0.0], dtype=D), torch.tensor([0.0, 3.0], dtype=D)
    c1, c2 = _cov(4, 2), _cov(5, 2)
    a, b = Gaussian(m1, c1), Gaussian(m2, c2)
    p1, p2 = torch.linalg.inv(c1), torch.linalg.inv(c2)
    poe = torch.linalg.solve(p1 + p2, p1 @ m1 + p2 @ m2)
    x0 = torch.randn(3, 2, generator=torch.Generator().manual_seed(0), dtype=D)
    x = ek.Descender(a + b, "gd", lr=0.5, steps=3000).run(x0).x
    torch.testing.assert_close(x, poe.expand(3, 2), rtol=0, atol=1e-8)
    # "a and not b": a - 0.5 b (b wider, so P1 - 0.5 P2 stays positive definite), stationary
    # where P1 (x - m1) = 0.5 P2 (x - m2).
    b, p2 = Gaussian(m2, 3 * c2), p2 / 3
    assert bool((torch.linalg.eigvalsh(p1 - 0.5 * p2) > 0).all())
    neg = torch.linalg.solve(p1 - 0.5 * p2, p1 @ m1 - 0.5 * p2 @ m2)
    x = ek.Descender(a - 0.5 * b, "gd", lr=0.5, steps=3000).run(x0).x
    torch.testing.assert_close(x, neg.expand(3, 2), rtol=0, atol=1e-8)


def test_step_rule_keeps_each_terms_step():
    q = Gaussian(torch.zeros(2, dtype=D), _cov(6, 2))
    x0 = torch.randn(4, 2, dtype=D)
    twice = 2.0 * q
    r = Gaussian(torch.ones(2, dtype=D))
    assert twice.positive_weight == 2.0 and (q - 0.5 * r).positive_weight == 1.0
    one = ek.Descender(q, "gd", lr=0.1, steps=7).run(x0).x
    two = ek.Descender(twice, "gd", lr=0.1 / twice.positive_weight, steps=7).run(x0).x
    torch.testing.assert_close(one, two, rtol=1e-15, atol=1e-15)


class _Counting(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.lin = torch.nn.Linear(3, 3).double()
        self.table = torch.nn.Embedding(4, 3).double()
        self.calls = 0

    def forward(self, x, y):
        self.calls += 1
        return torch.tanh(self.lin(x)) * self.table(y)


def test_bindings_of_one_net_share_one_batched_forward():
    net = _Counting()
    model = ek.ImplicitField(net)
    field = model.bind(y=0) + 0.5 * model.bind(y=2) - model.bind(y=torch.tensor(1))
    x = torch.randn(5, 3, dtype=D)
    got = field.gradient(x)
    assert net.calls == 1
    ys = [torch.full((5,), c) for c in (0, 2, 1)]
    want = model.gradient(x, y=ys[0]) + 0.5 * model.gradient(x, y=ys[1])
    want = want - model.gradient(x, y=ys[2])
    torch.testing.assert_close(got, want, rtol=1e-14, atol=1e-14)
    # Per-sample bound tensors, and a descent that evaluates only active rows.
    per = model.bind(y=torch.tensor([0, 1, 2, 3, 0])) + model.bind(y=3)
    net.calls = 0
    torch.testing.assert_close(
        per.gradient(x),
        model.gradient(x, y=torch.tensor([0, 1, 2, 3, 0])) + model.gradient(x, y=ys[0] * 0 + 3),
    )
    assert net.calls == 3  # batched call, then the two separate reference calls


def test_explicit_bindings_batch_and_keep_second_order_terms():
    net = _Counting()
    model = ek.DotEnergy(net)
    field = model.bind(y=1) + model.bind(y=3)
    x = torch.randn(4, 3, dtype=D)
    torch.testing.assert_close(
        field.gradient(x),
        model.gradient(x, y=torch.full((4,), 1)) + model.gradient(x, y=torch.full((4,), 3)),
    )


@given(
    st.lists(st.integers(0, 3), min_size=2, max_size=4),
    st.lists(st.floats(-2, 2, allow_nan=False), min_size=4, max_size=4),
    st.integers(0, 1000),
)
def test_batched_bindings_equal_separate_calls(classes, weights, seed):
    net = _Counting()
    model = ek.ImplicitField(net)
    terms = [model.bind(y=c) for c in classes]
    field = weights[0] * terms[0]
    for w, t in zip(weights[1:], terms[1:], strict=False):
        field = field + w * t
    x = torch.randn(3, 3, generator=torch.Generator().manual_seed(seed), dtype=D)
    want = sum(
        w * model.gradient(x, y=torch.full((3,), c)) for w, c in zip(weights, classes, strict=False)
    )
    torch.testing.assert_close(field.gradient(x), want, rtol=1e-12, atol=1e-12)

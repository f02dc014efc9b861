"""Every bad input to the core library API raises a clear error that names the argument.

Issue 11, section 5: a careless call either works or raises `TypeError`/`ValueError` (or
`FloatingPointError` for a model that diverges) whose one-line message names the argument;
nothing wrong passes silently and no NaN is passed on.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor

import energykit as ek
from energykit.data import sample_toy
from energykit.data.latents import LatentStore
from energykit.fields import Gaussian, GaussianMixture
from energykit.flows import guided_velocity, integrate
from energykit.metrics import (
    ClassifierFeatures,
    auroc,
    energy_distance,
    fit_classifier,
    fpr_at_tpr,
    mmd,
    sliced_wasserstein,
)
from energykit.metrics.frechet import frechet_from_stats, gaussian_stats
from energykit.metrics.inception import precision_recall
from energykit.metrics.modes import mode_stats
from energykit.objectives import EqMLoss, FlowMatchingLoss, TruncatedDecay
from energykit.tasks import denoise, inpaint, noise, ood_scores
from tests.data.test_latents import _handmade
from tests.helpers import tiny_mlp

NAN = float("nan")


def _x(b: int = 2, d: int = 2, dtype: torch.dtype = torch.float32) -> Tensor:
    return torch.randn(b, d, dtype=dtype)


def _field(dtype: torch.dtype = torch.float32, **kw: Any) -> ek.ImplicitField:
    return ek.ImplicitField(tiny_mlp(2, 0, dtype, **kw))


def _dot(dtype: torch.dtype = torch.float32) -> ek.DotEnergy:
    return ek.DotEnergy(tiny_mlp(2, 0, dtype))


def _cond_field() -> ek.ImplicitField:
    return _field(num_classes=3)


def _fm_net(**kw: Any) -> ek.nets.MLP:
    return tiny_mlp(2, 0, torch.float32, time_dim=8, **kw)


def _nan_at(x: Tensor, i: int = 0) -> Tensor:
    x = x.clone()
    x.view(-1)[i] = NAN
    return x


def _gauss() -> Gaussian:
    return Gaussian(torch.zeros(2))


def _integrate(v: Callable[..., Tensor], x0: Tensor | None = None, **kw: Any) -> Any:
    return integrate(v, _x() if x0 is None else x0, steps=2, **kw)


# fmt: off
CASES = [
    # -- objectives ---------------------------------------------------------------------------
    pytest.param(lambda: EqMLoss()(_field(), _x(), gamma=torch.tensor([1.5, 0.5])),
                 ValueError, "gamma", id="eqm-gamma-above-one"),
    pytest.param(lambda: EqMLoss()(_field(), _x(), gamma=torch.tensor([-0.1, 0.5])),
                 ValueError, "gamma", id="eqm-gamma-negative"),
    pytest.param(lambda: EqMLoss()(_field(), _x(), gamma=torch.tensor([NAN, 0.5])),
                 ValueError, "gamma", id="eqm-gamma-nan"),
    pytest.param(lambda: EqMLoss()(_field(), _x(), gamma=torch.tensor([0.5])),
                 ValueError, "gamma", id="eqm-gamma-wrong-shape"),
    pytest.param(lambda: EqMLoss()(_field(), _x(), gamma=0.5),
                 ValueError, "gamma", id="eqm-gamma-number"),
    pytest.param(lambda: EqMLoss()(_field(), _x(), gamma=torch.tensor([True, False])),
                 TypeError, "gamma", id="eqm-gamma-bool"),
    pytest.param(lambda: EqMLoss()(_field(), _nan_at(_x())),
                 ValueError, "x", id="eqm-x-nan"),
    pytest.param(lambda: EqMLoss()(_field(), _x(), noise=_nan_at(_x())),
                 ValueError, "noise", id="eqm-noise-nan"),
    pytest.param(lambda: EqMLoss()(_field(), _x(), noise=torch.randn(2, 3)),
                 ValueError, "noise", id="eqm-noise-shape"),
    pytest.param(lambda: EqMLoss()(_field(), _x(), noise=_x(dtype=torch.float64)),
                 TypeError, "noise", id="eqm-noise-dtype"),
    pytest.param(lambda: EqMLoss()(_field(), _x(0)),
                 ValueError, "x: expected at least one sample", id="eqm-empty-batch"),
    pytest.param(lambda: EqMLoss()(_field(), torch.ones(2, 2, dtype=torch.long)),
                 TypeError, "x", id="eqm-x-int"),
    pytest.param(lambda: EqMLoss()(_field(), _x(dtype=torch.float64)),
                 TypeError, "x: expected dtype torch.float32", id="eqm-x-float64-into-f32-net"),
    pytest.param(lambda: EqMLoss()(tiny_mlp(2, 0, torch.float32), _x()),
                 TypeError, "field", id="eqm-net-instead-of-field"),
    pytest.param(lambda: EqMLoss()(_cond_field(), _x(), y=torch.tensor([0.7, 1.2])),
                 TypeError, "y", id="eqm-float-labels"),
    pytest.param(lambda: EqMLoss()(_cond_field(), _x(), y=torch.tensor([0, 9])),
                 ValueError, "y", id="eqm-labels-out-of-range"),
    pytest.param(lambda: EqMLoss(schedule="truncated"),  # type: ignore[arg-type]
                 TypeError, "schedule", id="eqm-schedule-string"),
    pytest.param(lambda: TruncatedDecay(a=1.0), ValueError, "a", id="schedule-a-one"),
    pytest.param(lambda: TruncatedDecay(scale=NAN), ValueError, "scale", id="schedule-scale-nan"),
    pytest.param(lambda: FlowMatchingLoss()(_fm_net(), _x(), t=torch.tensor([2.0, 0.5])),
                 ValueError, "t", id="fm-t-two"),
    pytest.param(lambda: FlowMatchingLoss()(_fm_net(), _x(), t=torch.tensor([NAN, 0.5])),
                 ValueError, "t", id="fm-t-nan"),
    pytest.param(lambda: FlowMatchingLoss()(_fm_net(), _nan_at(_x())),
                 ValueError, "x", id="fm-x-nan"),
    pytest.param(lambda: FlowMatchingLoss()(_fm_net(), _x(0)),
                 ValueError, "x: expected at least one sample", id="fm-empty-batch"),
    pytest.param(lambda: FlowMatchingLoss()(_fm_net(), _x(dtype=torch.float64)),
                 TypeError, "x: expected dtype torch.float32", id="fm-x-dtype"),
    pytest.param(lambda: FlowMatchingLoss()("mlp", _x()),  # type: ignore[arg-type]
                 TypeError, "net", id="fm-net-not-callable"),
    pytest.param(lambda: FlowMatchingLoss(time_conditional=1),  # type: ignore[arg-type]
                 TypeError, "time_conditional", id="fm-time-conditional-int"),
    # -- fields ---------------------------------------------------------------------------
    pytest.param(lambda: _field().gradient(_x(0)),
                 ValueError, "x: expected at least one sample", id="implicit-empty-batch"),
    pytest.param(lambda: _dot().energy(_x(0)),
                 ValueError, "x: expected at least one sample", id="dot-energy-empty-batch"),
    pytest.param(lambda: _dot().gradient(_x(0)),
                 ValueError, "x: expected at least one sample", id="dot-gradient-empty-batch"),
    pytest.param(lambda: _field().gradient(_x(dtype=torch.float64)),
                 TypeError, "x: expected dtype torch.float32", id="implicit-x-dtype"),
    pytest.param(lambda: _dot().energy(_x(dtype=torch.float64)),
                 TypeError, "x: expected dtype torch.float32", id="dot-energy-x-dtype"),
    pytest.param(lambda: _field().gradient([[0.0, 1.0]]),  # type: ignore[arg-type]
                 TypeError, "x", id="implicit-x-list"),
    pytest.param(lambda: _gauss().gradient(_x(0)),
                 ValueError, "x: expected at least one sample", id="gaussian-empty-batch"),
    pytest.param(lambda: _gauss().energy(_x(d=3)),
                 ValueError, "x", id="gaussian-x-wrong-size"),
    pytest.param(lambda: GaussianMixture(torch.zeros(0, 2)),
                 ValueError, "means", id="mixture-no-components"),
    pytest.param(lambda: GaussianMixture(torch.zeros(2, 2), stds=NAN),
                 ValueError, "stds", id="mixture-stds-nan"),
    pytest.param(lambda: GaussianMixture(torch.zeros(2, 2), stds=torch.ones(3)),
                 ValueError, "stds", id="mixture-stds-wrong-count"),
    pytest.param(lambda: Gaussian(torch.tensor([NAN, 0.0])),
                 ValueError, "mean", id="gaussian-mean-nan"),
    pytest.param(lambda: ek.Guided(_cond_field(), 2.0, null_label=7),
                 ValueError, "null_label", id="guided-null-label-out-of-range"),
    pytest.param(lambda: ek.Guided(_cond_field(), 2.0, null_label=-1),
                 ValueError, "null_label", id="guided-null-label-negative"),
    pytest.param(lambda: ek.Guided(_cond_field(), 2.0, 3).gradient(_x(), y=torch.tensor([0, 5])),
                 ValueError, "y", id="guided-label-out-of-range"),
    pytest.param(lambda: ek.Guided(_cond_field(), 2.0, 3).gradient(_x(), y=torch.tensor([0, -1])),
                 ValueError, "y", id="guided-label-negative"),
    pytest.param(lambda: ek.Guided(_cond_field(), 2.0, 3).gradient(_x(), y=torch.tensor([0.7, 1])),
                 TypeError, "y", id="guided-float-labels"),
    pytest.param(lambda: ek.Guided(_cond_field(), 2.0, 3, channels=(5,)).gradient(_x(), y=1),
                 ValueError, "channels", id="guided-channel-out-of-range"),
    pytest.param(lambda: ek.Guided(_cond_field(), NAN, 3),
                 ValueError, "scale", id="guided-scale-nan"),
    pytest.param(lambda: ek.Guided(tiny_mlp(2, 0), 2.0, 3),  # type: ignore[arg-type]
                 TypeError, "field", id="guided-net-not-field"),
    pytest.param(lambda: _field() * NAN, ValueError, "operand", id="field-times-nan"),
    pytest.param(lambda: ek.L2Energy(tiny_mlp(2, 0), convention="ref"),  # type: ignore[arg-type]
                 ValueError, "convention", id="l2-bad-convention"),
    # -- nets ---------------------------------------------------------------------------
    pytest.param(lambda: tiny_mlp(2, 0, num_classes=3)(_x(dtype=torch.float64),
                                                         y=torch.tensor([0.7, 1.0])),
                 TypeError, "y", id="mlp-float-labels"),
    pytest.param(lambda: tiny_mlp(2, 0, num_classes=3)(_x(dtype=torch.float64),
                                                         y=torch.tensor([0, 4])),
                 ValueError, "y", id="mlp-label-out-of-range"),
    pytest.param(lambda: tiny_mlp(2, 0, time_dim=8)(_x(dtype=torch.float64),
                                                      t=torch.zeros(2, 1)),
                 ValueError, "t", id="mlp-t-column"),
    pytest.param(lambda: ek.nets.MLP(2, depth=-1), ValueError, "depth", id="mlp-depth-negative"),
    pytest.param(lambda: ek.nets.MLP(2, num_classes=0), ValueError, "num_classes",
                 id="mlp-num-classes-zero"),
    pytest.param(lambda: ek.nets.MLP(2, time_dim=0), ValueError, "time_dim",
                 id="mlp-time-dim-zero"),
    pytest.param(lambda: ek.nets.MLP(2, activation="relu6"), ValueError, "activation",
                 id="mlp-bad-activation"),
    pytest.param(lambda: ek.nets.UNet(1, (4,), num_classes=3)(torch.randn(2, 1, 4, 4),
                                                              y=torch.tensor([0.5, 1.0])),
                 TypeError, "y", id="unet-float-labels"),
    pytest.param(lambda: ek.nets.DiT(8, 4, 1, 16, 1, 1, num_classes=3)(
                     torch.randn(2, 1, 8, 8), y=torch.tensor([0.5, 1.0])),
                 TypeError, "y", id="dit-float-labels"),
    pytest.param(lambda: ek.nets.DiT(8, 4, 1, 16, 1, 1, num_classes=3)(
                     torch.randn(2, 1, 8, 8), t=torch.zeros(2, 1)),
                 ValueError, "t", id="dit-t-column"),
    pytest.param(lambda: ek.nets.DiT(8, 4, 1, 16, 1, 1, class_dropout_prob=NAN),
                 ValueError, "class_dropout_prob", id="dit-class-dropout-nan"),
    pytest.param(lambda: ek.nets.DiT(8, 4, 1, 16, 1, 1, num_classes=-3),
                 ValueError, "num_classes", id="dit-num-classes-negative"),
    pytest.param(lambda: ek.nets.embeddings.sinusoidal_embedding(torch.zeros(2, 1), 8),
                 ValueError, "t", id="embedding-t-column"),
    # -- tasks ---------------------------------------------------------------------------
    pytest.param(lambda: ood_scores(_gauss(), _x(), method="descent_distance", steps=0),
                 ValueError, "steps", id="ood-steps-zero"),
    pytest.param(lambda: ood_scores(_gauss(), _x(0)),
                 ValueError, "x: expected at least one sample", id="ood-empty-batch"),
    pytest.param(lambda: ood_scores(_gauss(), _nan_at(_x()), method="grad_norm"),
                 ValueError, "x", id="ood-x-nan"),
    pytest.param(lambda: ood_scores(_gauss(), _x(), method="likelihood"),
                 ValueError, "method", id="ood-bad-method"),
    pytest.param(lambda: ood_scores(tiny_mlp(2, 0), _x()),  # type: ignore[arg-type]
                 TypeError, "field", id="ood-net-not-field"),
    pytest.param(lambda: denoise(_gauss(), _x(), steps=0),
                 ValueError, "steps", id="denoise-steps-zero"),
    pytest.param(lambda: denoise(_gauss(), _x(0)),
                 ValueError, "x_noisy: expected at least one sample", id="denoise-empty-batch"),
    pytest.param(lambda: inpaint(_gauss(), _x(), torch.tensor([[1.0, 0.5]])),
                 ValueError, "mask", id="inpaint-mask-not-binary"),
    pytest.param(lambda: inpaint(_gauss(), _x(), torch.ones(3)),
                 ValueError, "mask", id="inpaint-mask-shape"),
    pytest.param(lambda: inpaint(_gauss(), _nan_at(_x()), torch.tensor([[1.0, 0.0]])),
                 ValueError, "x", id="inpaint-nan-at-known-entry"),
    pytest.param(lambda: inpaint(_gauss(), _x(), torch.tensor([[1.0, 0.0]]), init=torch.ones(3)),
                 ValueError, "init", id="inpaint-init-shape"),
    pytest.param(lambda: inpaint(_gauss(), _x(0), torch.tensor([[1.0, 0.0]])),
                 ValueError, "x: expected at least one sample", id="inpaint-empty-batch"),
    pytest.param(lambda: noise(_x(), NAN), ValueError, "gamma", id="noise-gamma-nan"),
    pytest.param(lambda: noise(_x(), 1.5), ValueError, "gamma", id="noise-gamma-above-one"),
    pytest.param(lambda: noise(_nan_at(_x()), 0.5), ValueError, "x", id="noise-x-nan"),
    pytest.param(lambda: noise(_x(0), 0.5),
                 ValueError, "x: expected at least one sample", id="noise-empty-batch"),
    # -- metrics ---------------------------------------------------------------------------
    pytest.param(lambda: auroc(torch.zeros(3, 2), torch.ones(3)),
                 ValueError, "scores_in", id="auroc-2d-scores"),
    pytest.param(lambda: auroc(torch.zeros(3), torch.ones(3, 1)),
                 ValueError, "scores_out", id="auroc-column-scores"),
    pytest.param(lambda: auroc(torch.zeros(0), torch.ones(3)),
                 ValueError, "scores_in", id="auroc-empty"),
    pytest.param(lambda: auroc(torch.tensor([NAN]), torch.ones(3)),
                 ValueError, "scores_in", id="auroc-nan"),
    pytest.param(lambda: fpr_at_tpr(torch.zeros(3), torch.ones(3), tpr=NAN),
                 ValueError, "tpr", id="fpr-tpr-nan"),
    pytest.param(lambda: mmd(_nan_at(_x(4)), _x(4)), ValueError, "x", id="mmd-x-nan"),
    pytest.param(lambda: mmd(_x(4), _x(4), bandwidths=(0.0,)),
                 ValueError, "bandwidths", id="mmd-bandwidth-zero"),
    pytest.param(lambda: mmd(_x(4), _x(4), bandwidths=()),
                 ValueError, "bandwidths", id="mmd-no-bandwidths"),
    pytest.param(lambda: mmd(_x(4).numpy(), _x(4)),  # type: ignore[arg-type]
                 TypeError, "x", id="mmd-numpy"),
    pytest.param(lambda: energy_distance(_x(1), _x(4)), ValueError, "x", id="energy-distance-one"),
    pytest.param(lambda: sliced_wasserstein(_x(4), _x(4), directions=torch.zeros(1, 2)),
                 ValueError, "directions", id="sw-zero-direction"),
    pytest.param(lambda: sliced_wasserstein(_x(4), _x(4), directions=[[1.0, 0.0]]),
                 TypeError, "directions", id="sw-directions-list"),
    pytest.param(lambda: mode_stats(_x(0), torch.zeros(8, 2), 0.5),
                 ValueError, "samples", id="modes-empty"),
    pytest.param(lambda: mode_stats(_x(4), torch.zeros(8, 2), NAN),
                 ValueError, "radius", id="modes-radius-nan"),
    pytest.param(lambda: mode_stats(_x(4), torch.zeros(8, 3), 0.5),
                 ValueError, "modes", id="modes-dim-mismatch"),
    pytest.param(lambda: gaussian_stats(_x(1)), ValueError, "features", id="gaussian-stats-one"),
    pytest.param(lambda: frechet_from_stats(torch.tensor([NAN, 0.0]), torch.eye(2),
                                            torch.zeros(2), torch.eye(2)),
                 ValueError, "mu1", id="frechet-mu-nan"),
    pytest.param(lambda: precision_recall(_x(6), _x(6), k=0),
                 ValueError, "k", id="precision-recall-k-zero"),
    pytest.param(lambda: precision_recall(_nan_at(_x(6)), _x(6)),
                 ValueError, "real", id="precision-recall-nan"),
    pytest.param(lambda: ClassifierFeatures(2, 3).class_entropy(_nan_at(_x(4))),
                 ValueError, "samples", id="class-entropy-nan"),
    pytest.param(lambda: fit_classifier(_x(4), torch.tensor([0.0, 1.0, 0.5, 1.0]), steps=1,
                                        cache=False),
                 TypeError, "y_train", id="fit-classifier-float-labels"),
    pytest.param(lambda: fit_classifier(_x(4), torch.tensor([0, 1, 2, 1]), num_classes=2,
                                        steps=1, cache=False),
                 ValueError, "y_train", id="fit-classifier-label-out-of-range"),
    # -- flows ---------------------------------------------------------------------------
    pytest.param(lambda: _integrate(lambda x, t: x[:, :1]),
                 ValueError, "velocity", id="ode-velocity-wrong-shape"),
    pytest.param(lambda: _integrate(lambda x, t: x * NAN),
                 FloatingPointError, "non-finite", id="ode-velocity-nan"),
    pytest.param(lambda: _integrate(lambda x, t: x, x0=_x(0)),
                 ValueError, "x0: expected at least one sample", id="ode-empty-batch"),
    pytest.param(lambda: _integrate(lambda x, t: x, x0=_nan_at(_x())),
                 ValueError, "x0", id="ode-x0-nan"),
    pytest.param(lambda: integrate(lambda x, t: x, _x(), steps=0),
                 ValueError, "steps", id="ode-steps-zero"),
    pytest.param(lambda: _integrate(lambda x, t: x, method="rk4"),
                 ValueError, "method", id="ode-bad-method"),
    pytest.param(lambda: _integrate(lambda x, t: x, time_conditional="no"),
                 TypeError, "time_conditional", id="ode-time-conditional-str"),
    pytest.param(lambda: guided_velocity(_fm_net(num_classes=3), 2.0, 3)(_x(), torch.zeros(2),
                                                            y=torch.tensor([0.5, 1.0])),
                 TypeError, "y", id="guided-velocity-float-labels"),
    pytest.param(lambda: guided_velocity(tiny_mlp(2, 0, time_dim=8, num_classes=3), 2.0, 9),
                 ValueError, "null_label", id="guided-velocity-null-label-out-of-range"),
    # -- data ---------------------------------------------------------------------------
    pytest.param(lambda: sample_toy("moons", 0), ValueError, "n", id="toy-n-zero"),
    pytest.param(lambda: sample_toy("moon", 4), ValueError, "toy distribution", id="toy-bad-name"),
    pytest.param(lambda: sample_toy("moons", 4, dtype=torch.long),
                 TypeError, "dtype", id="toy-int-dtype"),
]
# fmt: on


@pytest.mark.parametrize(("call", "error", "fragment"), CASES)
def test_bad_input_raises_a_clear_error(
    call: Callable[[], object], error: type[Exception], fragment: str
) -> None:
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message


def test_inpaint_ignores_nan_at_unknown_entries() -> None:
    x = torch.tensor([[1.0, NAN], [0.5, float("inf")]])
    mask = torch.tensor([[1.0, 0.0]])
    result = inpaint(Gaussian(torch.zeros(2)), x, mask, steps=5)
    assert bool(torch.isfinite(result.x).all())
    assert torch.equal(result.x[:, 0], x[:, 0])


def test_losses_accept_boundary_levels() -> None:
    x = _x()
    out = EqMLoss()(_field(), x, gamma=torch.tensor([0.0, 1.0]))
    assert bool(torch.isfinite(out.loss))
    out = FlowMatchingLoss()(_fm_net(), x, t=torch.tensor([0.0, 1.0]))
    assert bool(torch.isfinite(out.loss))


def test_analytic_fields_accept_any_float_dtype() -> None:
    field = _gauss() + GaussianMixture(torch.zeros(2, 2))
    for dtype in (torch.float32, torch.float64):
        assert field.gradient(_x(dtype=dtype)).dtype == dtype


@pytest.mark.parametrize(
    ("index", "error", "fragment"),
    [
        pytest.param([-1], ValueError, "index", id="latents-negative-index"),
        pytest.param([5], ValueError, "index", id="latents-index-past-end"),
        pytest.param(np.array([0.7]), TypeError, "index", id="latents-float-index"),
    ],
)
def test_latent_store_refuses_bad_indices(
    tmp_path: Path, index: Any, error: type[Exception], fragment: str
) -> None:
    store = LatentStore(_handmade(tmp_path / "latents"), flip=False)
    with pytest.raises(error, match=fragment):
        store.moments(index)

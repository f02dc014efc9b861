"""Every bad input to the descent API gets a clear error that names the argument.

Each row: a call, the error type, and a substring naming the argument (and what was wrong).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
import torch
from torch import nn

import energykit as ek
from energykit.fields import Quadratic
from energykit.sampling import SampleConfig, Velocity, generate
from tests.helpers import Counting, tiny_mlp

FIELD = Quadratic(torch.eye(2, dtype=torch.float64))
X0 = torch.ones(3, 2, dtype=torch.float64)
NET32 = ek.ImplicitField(tiny_mlp(2, 0, dtype=torch.float32))
NET_Y = ek.ImplicitField(tiny_mlp(2, 0, num_classes=3))
CFG = SampleConfig(n=4, batch=4, steps=2)


def _gen(cfg: SampleConfig = CFG, **kw: object) -> object:
    field = ek.ImplicitField(nn.Linear(2, 2))
    return generate(field, kw.pop("shape", (2,)), cfg, **kw)  # type: ignore[arg-type]


CASES = [
    # Settings, refused at construction.
    pytest.param(
        lambda: ek.Descender(FIELD, record="no"),
        TypeError,
        "record: expected True or False",
        id="record-str",
    ),
    pytest.param(
        lambda: ek.Descender(FIELD, record=1),
        TypeError,
        "record: expected True or False",
        id="record-int",
    ),
    pytest.param(
        lambda: ek.Descender(FIELD, callback="x"),
        TypeError,
        "callback: expected a callable",
        id="callback-str",
    ),
    pytest.param(
        lambda: ek.Descender(FIELD, dict),
        TypeError,
        "optimizer: expected a torch.optim.Optimizer class, a factory, or a name, got the "
        "class builtins.dict",
        id="optimizer-dict",
    ),
    pytest.param(
        lambda: ek.Descender(FIELD, nn.Linear),
        TypeError,
        "optimizer: expected a torch.optim.Optimizer class, a factory, or a name, got the "
        "class torch.nn",
        id="optimizer-module-class",
    ),
    pytest.param(
        lambda: ek.Descender(FIELD, torch.optim.SGD([torch.zeros(1)], lr=0.1)),
        TypeError,
        "optimizer: expected a torch.optim.Optimizer class, a factory, or a name, got an "
        "instance of SGD",
        id="optimizer-instance",
    ),
    pytest.param(
        lambda: ek.Descender(FIELD, None), TypeError, "optimizer: expected", id="optimizer-none"
    ),
    pytest.param(
        lambda: ek.Descender(FIELD, "adamm"),
        ValueError,
        "optimizer: unknown name 'adamm'",
        id="optimizer-unknown-name",
    ),
    pytest.param(
        lambda: ek.Descender(FIELD, "sgd", lr=0.1, momentun=0.9),
        TypeError,
        "optimizer keyword 'momentun': SGD does not accept 'momentun'",
        id="optimizer-unknown-kwarg",
    ),
    pytest.param(
        lambda: ek.Descender(FIELD, "nag", nesterov=True),
        TypeError,
        "optimizer keyword 'nesterov': NAGGD does not accept",
        id="naggd-unknown-kwarg",
    ),
    pytest.param(
        lambda: ek.Descender(FIELD, "adam", betas=(2.0, 0.9)).run(X0),
        ValueError,
        "optimizer Adam({'lr': 0.008, 'betas': (2.0, 0.9)}): Invalid beta",
        id="optimizer-bad-kwarg-value",
    ),
    pytest.param(
        lambda: ek.Descender(FIELD, lambda p, **k: [p]).run(X0),
        TypeError,
        "optimizer: the factory must return a torch.optim.Optimizer, got list",
        id="factory-returns-list",
    ),
    pytest.param(
        lambda: ek.Descender(FIELD, steps=0),
        ValueError,
        "steps: expected an int >= 1, got 0",
        id="steps-0",
    ),
    pytest.param(
        lambda: ek.Descender(FIELD, steps=2.5),
        TypeError,
        "steps: expected an int, got float",
        id="steps-float",
    ),
    pytest.param(
        lambda: ek.Descender(FIELD, steps=True),
        TypeError,
        "steps: expected an int, got bool",
        id="steps-bool",
    ),
    pytest.param(
        lambda: ek.Descender(FIELD, lr=-0.1),
        ValueError,
        "lr: expected a number >= 0.0, got -0.1",
        id="lr-negative",
    ),
    pytest.param(
        lambda: ek.Descender(FIELD, lr=float("nan")),
        ValueError,
        "lr: expected a finite number",
        id="lr-nan",
    ),
    pytest.param(
        lambda: ek.Descender(FIELD, lr="0.1"),
        TypeError,
        "lr: expected a real number, got str",
        id="lr-str",
    ),
    pytest.param(
        lambda: ek.Descender(FIELD, g_min=0.0),
        ValueError,
        "g_min: expected a number > 0.0, got 0.0",
        id="g_min-0",
    ),
    pytest.param(
        lambda: ek.Descender(FIELD, g_min=-1.0),
        ValueError,
        "g_min: expected a number > 0.0, got -1.0",
        id="g_min-negative",
    ),
    pytest.param(
        lambda: ek.Descender(FIELD, g_min=float("nan")),
        ValueError,
        "g_min: expected a finite number",
        id="g_min-nan",
    ),
    pytest.param(
        lambda: ek.Descender(FIELD, nonfinite="skip"),
        ValueError,
        "nonfinite: expected one of ['raise', 'freeze'], got 'skip'",
        id="nonfinite-unknown",
    ),
    pytest.param(
        lambda: ek.Descender(lambda x: x),
        TypeError,
        "Descender field: expected an EnergyField",
        id="field-function",
    ),
    # Starting points and conditioning, refused at run()/start().
    pytest.param(
        lambda: ek.Descender(NET32, lr=0.1).run(X0),
        TypeError,
        "x0: dtype torch.float64 does not match the field's parameters (torch.float32); "
        "cast x0 with x0.to(torch.float32)",
        id="x0-dtype",
    ),
    pytest.param(
        lambda: ek.Descender(FIELD, lr=0.1).run(torch.zeros(0, 2, dtype=torch.float64)),
        ValueError,
        "x0: expected at least one sample, got shape (0, 2)",
        id="x0-empty",
    ),
    pytest.param(
        lambda: ek.Descender(FIELD).run(torch.tensor([[float("nan"), 0.0]], dtype=torch.float64)),
        ValueError,
        "x0: expected finite values, got NaN/inf in samples [0]",
        id="x0-nan",
    ),
    pytest.param(
        lambda: ek.Descender(FIELD).run(torch.zeros(3, 2, dtype=torch.long)),
        TypeError,
        "x0: expected a floating-point tensor",
        id="x0-int",
    ),
    pytest.param(
        lambda: ek.Descender(FIELD).run([[0.0, 1.0]]),
        TypeError,
        "x0: expected a torch.Tensor, got list",
        id="x0-list",
    ),
    pytest.param(
        lambda: ek.Descender(FIELD).run(torch.tensor(1.0, dtype=torch.float64)),
        ValueError,
        "x0: expected shape (batch, *shape)",
        id="x0-0d",
    ),
    pytest.param(
        lambda: ek.Descender(NET_Y).run(X0, y=torch.zeros(2, dtype=torch.long)),
        ValueError,
        "conditioning 'y': expected batch size 3",
        id="cond-batch",
    ),
    pytest.param(
        lambda: ek.Descender(FIELD).step("s"),
        TypeError,
        "Descender.step state: expected a DescentState",
        id="step-state",
    ),
    pytest.param(
        lambda: ek.Descender(FIELD, steps=1).step(_done(FIELD)),
        RuntimeError,
        "the descent is done after 1 steps",
        id="step-done",
    ),
    # Sampling from a trained net.
    pytest.param(
        lambda: _gen(SampleConfig(n=0)),
        ValueError,
        "n: expected an int >= 1, got 0",
        id="generate-n-0",
    ),
    pytest.param(
        lambda: _gen(SampleConfig(n=4, batch=0)),
        ValueError,
        "batch: expected an int >= 1, got 0",
        id="generate-batch-0",
    ),
    pytest.param(
        lambda: _gen(SampleConfig(n=4, batch=4, steps=0)),
        ValueError,
        "steps: expected an int >= 1, got 0",
        id="generate-steps-0",
    ),
    pytest.param(
        lambda: _gen(stepz=3),
        TypeError,
        "generate: unknown setting 'stepz'",
        id="generate-unknown-override",
    ),
    pytest.param(
        lambda: _gen({"n": 4}),
        TypeError,
        "generate cfg: expected a SampleConfig, got dict",
        id="generate-cfg-dict",
    ),
    pytest.param(
        lambda: _gen(num_classes=0),
        ValueError,
        "num_classes: expected an int >= 1, got 0",
        id="generate-num-classes-0",
    ),
    pytest.param(
        lambda: _gen(shape=(-2,)),
        ValueError,
        "shape: expected a tuple of positive ints",
        id="generate-shape",
    ),
    pytest.param(
        lambda: _gen(label_offset=-1),
        ValueError,
        "label_offset: expected an int >= 0, got -1",
        id="generate-label-offset",
    ),
    pytest.param(
        lambda: _gen(nonfinite="skip"),
        ValueError,
        "nonfinite: expected 'raise' or 'freeze', got 'skip'",
        id="generate-nonfinite",
    ),
    pytest.param(
        lambda: _gen(lr_scale=0.0),
        ValueError,
        "lr_scale: expected a number > 0.0, got 0.0",
        id="generate-lr-scale",
    ),
    pytest.param(
        lambda: generate(
            Velocity(nn.Linear(2, 2), time_conditional=False),
            (2,),
            SampleConfig(n=2, batch=2, steps=2, sampler="euler", nonfinite="freeze"),
        ),
        ValueError,
        "nonfinite: 'freeze' applies to descent samplers",
        id="generate-freeze-ode",
    ),
]


def _done(field: ek.EnergyField) -> ek.DescentState:
    d = ek.Descender(field, lr=0.1, steps=1)
    state = d.start(X0)
    d.step(state)
    return state


@pytest.mark.parametrize(("call", "error", "message"), CASES)
def test_bad_input_is_named(call: Callable[[], object], error: type[Exception], message: str):
    with pytest.raises(error, match=re.escape(message)):
        call()


def test_enough_cases():
    assert len(CASES) >= 20


@pytest.mark.parametrize("opt", ["lbfgs", "gd", "nag", "adam"])
@pytest.mark.parametrize("g_min", [None, 1e-6])
def test_nfe_counts_every_field_evaluation(opt, g_min):
    # LBFGS calls its closure several times per step; the oracle counts rows passed to the field.
    counting = Counting(FIELD)
    x0 = torch.randn(4, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    result = ek.Descender(counting, opt, lr=0.1, steps=5, g_min=g_min).run(x0)
    assert result.nfe_total == sum(counting.calls)
    if opt == "lbfgs":
        assert sum(counting.calls) > 4 * 5  # more than one evaluation per step

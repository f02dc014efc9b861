"""`SampleConfig.dtype` and `SampleConfig.compile`: the network in low precision or compiled,
the samples in float32; `energykit sample --dtype/--compile` reach the config."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

import energykit as ek
from energykit.flows import Velocity
from energykit.sampling import SampleConfig, generate

# bfloat16 rounds each operation to 2^-9 relative; 20 descent steps of a small MLP keep the
# samples within 1e-2 of the float32 run (see tests/descent/test_precision.py).
BF16_RTOL = 1e-2


def _field(head: type[ek.EnergyField] = ek.ImplicitField) -> ek.EnergyField:
    torch.manual_seed(0)
    return head(nn.Sequential(nn.Linear(2, 32), nn.SiLU(), nn.Linear(32, 2)))


CFG = SampleConfig(sampler="nag", steps=20, n=12, batch=6, lr=0.05)


@pytest.mark.parametrize("head", [ek.ImplicitField, ek.DotEnergy])
@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_low_precision_sampling_stays_float32_and_close(head, dtype):
    field = _field(head)
    ref = generate(field, (2,), CFG)
    low = generate(field, (2,), CFG, dtype=dtype)
    assert low.x.dtype == torch.float32
    assert next(field.parameters()).dtype == torch.float32  # the caller's field untouched
    assert float((low.x - ref.x).norm() / ref.x.norm()) < BF16_RTOL
    assert low.nfe_total == ref.nfe_total


@pytest.mark.slow
@pytest.mark.parametrize("head", [ek.ImplicitField, ek.DotEnergy])
def test_compiled_sampling_matches_eager(head):
    # Compiling on the CPU takes seconds: one short descent per head. An explicit head needs
    # only the first-order grad_x E, which a compiled network supports through autograd.
    torch._dynamo.reset()
    field = _field(head)
    cfg = dataclasses.replace(CFG, steps=4, n=6)
    ref = generate(field, (2,), cfg)
    got = generate(field, (2,), cfg, compile=True)
    # Inductor may fuse and reorder float32 operations: a few ulps per step.
    torch.testing.assert_close(got.x, ref.x, rtol=1e-5, atol=1e-6)


def test_ode_samplers_refuse_dtype_and_compile():
    velocity = Velocity(nn.Linear(2, 2), time_conditional=False)
    cfg = dataclasses.replace(CFG, sampler="euler")
    for kw in ({"dtype": "bfloat16"}, {"compile": True}):
        with pytest.raises(ValueError, match="apply to descent samplers"):
            generate(velocity, (2,), cfg, **kw)


def test_bad_dtype_and_compile_are_named():
    with pytest.raises(ValueError, match=r"dtype: expected one of \['float32'"):
        generate(_field(), (2,), CFG, dtype="int8")
    with pytest.raises(TypeError, match="compile: expected True or False"):
        generate(_field(), (2,), CFG, compile="yes")


def test_cli_flags_reach_the_config():
    from energykit.cli import build_parser

    args = build_parser().parse_args(
        ["sample", "ck.pt", "--out", "s.pt", "--dtype", "bfloat16", "--compile"]
    )
    assert args.dtype == "bfloat16" and args.compile is True
    plain = build_parser().parse_args(["sample", "ck.pt", "--out", "s.pt"])
    assert plain.dtype is None and plain.compile is None
    with pytest.raises(SystemExit):
        build_parser().parse_args(["sample", "ck.pt", "--out", "s.pt", "--dtype", "int8"])

"""The table of objective kinds: heads, losses, and agreement with the config's Literal."""

from __future__ import annotations

import typing

import pytest
import torch
from torch import nn

import energykit as ek
from energykit.objectives import OBJECTIVE_KINDS, kind_of_field, objective_kind
from energykit.train.config import ObjectiveKind


def test_the_config_literal_is_the_table():
    assert typing.get_args(ObjectiveKind) == tuple(OBJECTIVE_KINDS)


@pytest.mark.parametrize(
    ("name", "head", "fm", "time", "explicit"),
    [
        ("eqm", ek.ImplicitField, False, False, False),
        ("eqm-dot", ek.DotEnergy, False, False, True),
        ("eqm-l2", ek.L2Energy, False, False, True),
        ("fm", None, True, True, False),
        ("fm-uncond", None, True, False, False),
    ],
)
def test_rows(name, head, fm, time, explicit):
    spec = objective_kind(name)
    assert (spec.head, spec.flow_matching, spec.time_conditional) == (head, fm, time)
    assert spec.has_energy == explicit
    loss = spec.loss(ek.objectives.TruncatedDecay())
    assert isinstance(loss, ek.FlowMatchingLoss if fm else ek.EqMLoss)
    net = nn.Linear(2, 2)
    if fm:
        assert loss.time_conditional == time and spec.loss_target(net) is net
        with pytest.raises(ValueError, match="trains a velocity"):
            spec.field(net)
    else:
        field = spec.field(net)
        assert type(field) is head and field.has_energy == explicit
        assert kind_of_field(field) is spec
        assert torch.equal(
            field.gradient(torch.ones(1, 2)), spec.loss_target(net).gradient(torch.ones(1, 2))
        )


def test_unknown_kinds_and_heads_raise():
    with pytest.raises(ValueError, match=r"objective\.kind: expected one of"):
        objective_kind("ebm")
    with pytest.raises(ValueError, match="expected one of the heads"):
        kind_of_field(ek.fields.Quadratic(torch.eye(2)))

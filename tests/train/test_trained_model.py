"""`TrainedModel`: the field or velocity built once from the table of kinds, and
`load_trained` with the user's own module."""

from __future__ import annotations

import pytest
import torch

import energykit as ek
from energykit.flows import Velocity
from energykit.train import TrainConfig, TrainedModel, Trainer, load_config, load_trained

TINY = ["net.width=16", "net.depth=1", "train.batch=8", "train.steps=1"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = {}
    for kind, sampler in (("eqm-dot", "nag"), ("fm", "euler")):
        path = tmp_path_factory.mktemp(kind)
        cfg = load_config(None, [*TINY, f"objective.kind={kind}", f"sample.sampler={sampler}"])
        Trainer(cfg, path, progress=False).fit()
        out[kind] = path / "last.pt"
    return out


def test_field_is_built_once_from_the_kind(runs):
    model = load_trained(runs["eqm-dot"])
    field = model.field()
    assert isinstance(field, ek.DotEnergy) and field.net is model.net and model.field() is field
    assert model.sampleable() is field
    with pytest.raises(ValueError, match="is EqM and defines an energy field"):
        model.velocity()


def test_velocity_is_built_once_with_the_time_input(runs):
    model = load_trained(runs["fm"])
    v = model.velocity()
    assert isinstance(v, Velocity) and v.time_conditional and model.velocity() is v
    with pytest.raises(ValueError, match="is flow matching and defines a velocity"):
        model.field()


def test_load_trained_into_the_users_module_and_old_positional_device(runs):
    built = load_trained(runs["eqm-dot"])
    mine = torch.nn.Sequential()  # wrong module: its keys do not match
    with pytest.raises(ValueError, match=r"do not fit Sequential \(unexpected: inp\.weight"):
        load_trained(runs["eqm-dot"], net=mine)
    twin = type(built.net)(64, 16, 1)
    model = load_trained(runs["eqm-dot"], device="cpu", net=twin)
    assert model.net is twin
    for a, b in zip(twin.parameters(), built.net.parameters(), strict=True):
        assert torch.equal(a, b)


def test_from_field_takes_the_kind_from_the_head():
    field = ek.L2Energy(torch.nn.Linear(2, 2))
    model = TrainedModel.from_field(field, shape=(2,), num_classes=None, config=TrainConfig())
    assert model.kind == "eqm-l2" and model.field() is field and model.net is field.net

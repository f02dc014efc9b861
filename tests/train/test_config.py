"""Typed configs: round trips, overrides and every recipe in recipes/ loads."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from energykit.train import ConfigError, TrainConfig, apply_overrides, load_config

RECIPES = sorted((Path(__file__).resolve().parents[2] / "recipes").glob("*/*.yaml"))


def test_defaults_round_trip_through_dict():
    cfg = TrainConfig()
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


@given(
    steps=st.integers(1, 10**6),
    lr=st.floats(1e-6, 1.0),
    bf16=st.booleans(),
    clip=st.one_of(st.none(), st.floats(0.01, 10.0)),
    channels=st.lists(st.integers(1, 128), min_size=1, max_size=3),
)
def test_overrides_parse_to_the_typed_values(steps, lr, bf16, clip, channels):
    overrides = [
        f"train.steps={steps}",
        f"optim.lr={lr!r}",
        f"train.bf16={str(bf16).lower()}",
        f"optim.grad_clip={'null' if clip is None else repr(clip)}",
        f"net.channels=[{', '.join(map(str, channels))}]",
    ]
    cfg = load_config(None, overrides)
    assert cfg.train.steps == steps and cfg.optim.lr == lr and cfg.train.bf16 is bf16
    assert cfg.optim.grad_clip == clip and cfg.net.channels == tuple(channels)
    # What is recorded round-trips (net.channels of an MLP run is not recorded).
    assert TrainConfig.from_dict(cfg.to_dict()).to_dict() == cfg.to_dict()


def test_none_on_the_command_line_is_null_for_optional_keys_and_a_name_otherwise():
    cfg = load_config(None, ["objective.coupling=none", "train.track=none", "optim.grad_clip=none"])
    assert (cfg.objective.coupling, cfg.train.track, cfg.optim.grad_clip) == ("none", "none", None)
    assert load_config(None, ["objective.coupling=ot"]).objective.coupling == "ot"
    assert load_config(None, ["optim.grad_clip=~"]).optim.grad_clip is None


def test_overrides_do_not_mutate_the_input():
    raw = {"train": {"steps": 5}}
    apply_overrides(raw, ["train.steps=7"])
    assert raw == {"train": {"steps": 5}}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"train": {"steps": 0}}, "train.steps: expected a value > 0, got 0"),
        ({"train": {"steps": 1.5}}, "train.steps: expected an integer, got 1.5"),
        ({"train": {"bf16": "no"}}, "train.bf16: expected true or false"),
        ({"train": 3}, "train: expected a mapping"),
        ({"optim": {"betas": [0.9]}}, "optim.betas: expected a list of 2 values"),
        ({"train": {"ema_decay": 1.0}}, "train.ema_decay: expected a value in [0, 1)"),
        ({"data": {"name": "cifar"}}, "data.name: expected one of 'digits'"),
        ({"objective": {"a": 1.0}}, "objective.a: expected a value in (0, 1)"),
        (
            {"objective": {"coupling": "emd"}},
            "objective.coupling: expected one of 'none', 'ot', 'sinkhorn', got 'emd'",
        ),
        ({"objective": {"sinkhorn_reg": 0}}, "objective.sinkhorn_reg: expected a value > 0"),
        ({"data": {"name": "moons", "class_conditional": True}}, "has no labels"),
        ({"extra": {}}, "extra: unknown key"),
    ],
)
def test_bad_configs(raw, message):
    with pytest.raises(ConfigError) as err:
        TrainConfig.from_dict(raw)
    assert message in str(err.value)


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_recipe_loads(recipe):
    cfg = load_config(recipe)
    assert cfg.data.name in recipe.read_text()


@pytest.mark.parametrize(
    ("kind", "absent", "present"),
    [
        ("mlp", {"preset", "channels", "patch", "learn_sigma", "dit_depth"}, {"width", "depth"}),
        ("unet", {"preset", "width", "activation"}, {"channels", "patch", "attention"}),
        ("dit", {"width", "channels", "patch", "activation"}, {"preset", "learn_sigma"}),
    ],
)
def test_config_json_records_only_the_net_kinds_keys(kind, absent, present):
    """An MLP run does not record a DiT preset (issue 14); old complete files still load."""
    data = "digits" if kind != "mlp" else "moons"
    cfg = load_config(None, [f"net.kind={kind}", f"data.name={data}"])
    net = cfg.to_dict()["net"]
    assert net["kind"] == kind and present <= net.keys() and not absent & net.keys()
    old = {**cfg.to_dict(), "net": dataclasses.asdict(cfg.net)}  # a file written before
    assert TrainConfig.from_dict(old) == cfg

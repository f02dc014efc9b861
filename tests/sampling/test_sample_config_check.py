"""Sampler settings are checked in one place, `SampleConfig.check`: a recipe, `generate` and
`energykit sample` refuse the same setting with the same message."""

from __future__ import annotations

import pytest
import torch

import energykit as ek
from energykit._config import ConfigError
from energykit.flows import Velocity
from energykit.sampling import SampleConfig, generate
from energykit.train import load_config


class Zero(torch.nn.Module):
    def forward(self, x: torch.Tensor, *args: object) -> torch.Tensor:
        return torch.zeros_like(x)


CASES = [
    ({"lr_scale": 0.0}, False, r"^sample\.lr_scale: expected a number > 0\.0, got 0\.0$"),
    ({"n": 0}, False, r"^sample\.n: expected an int >= 1, got 0$"),
    ({"momentum": -0.5}, False, r"^sample\.momentum: expected a number >= 0\.0"),
    ({"sampler": "banana"}, False, r"^sample\.sampler: "),
    ({"dtype": "bfloat16", "sampler": "euler"}, True, r"^sample\.dtype: low precision"),
    ({"nonfinite": "freeze", "sampler": "euler"}, True, r"^sample\.nonfinite: 'freeze'"),
]


@pytest.mark.parametrize(("settings", "fm", "message"), CASES)
def test_recipe_and_generate_refuse_alike(settings, fm, message):
    kind = "fm" if fm else "eqm"
    overrides = [f"objective.kind={kind}", *(f"sample.{k}={v}" for k, v in settings.items())]
    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides)
    model = Velocity(Zero(), True) if fm else ek.ImplicitField(Zero())
    with pytest.raises(ConfigError, match=message):
        generate(model, (2,), SampleConfig(**settings))
    with pytest.raises(ConfigError, match=message):
        SampleConfig(**settings).check(flow_matching=fm)


def test_model_dependent_checks_need_the_model():
    cfg = SampleConfig(sampler="euler", dtype="bfloat16")
    assert cfg.check() is cfg  # ranges only: fine without knowing the model
    with pytest.raises(ConfigError, match=r"sample\.sampler"):
        cfg.check(flow_matching=False)  # euler is not a descent optimiser
    guided = SampleConfig(cfg_scale=2.0)
    assert guided.check(class_conditional=True) is guided
    with pytest.raises(ConfigError, match="guidance needs a class-conditional model"):
        guided.check(class_conditional=False)


def test_a_wrong_type_built_in_code_is_a_type_error():
    with pytest.raises(TypeError, match=r"sample\.compile: expected True or False"):
        SampleConfig(compile="yes").check()  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"sample\.steps: expected an int"):
        SampleConfig(steps=2.5).check()  # type: ignore[arg-type]

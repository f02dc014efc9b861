"""The one list of samplers, and the one list of dataset names."""

from __future__ import annotations

import pytest

from energykit.data import (
    DATASET_NAMES,
    FILE_DATASETS,
    IMAGE_DATASETS,
    TOY_DISTRIBUTIONS,
    dataset_info,
)
from energykit.descent import available_optimizers
from energykit.flows import METHODS
from energykit.sampling import ODE_METHODS, check_sampler, sampler_names
from energykit.train import ConfigError, load_config


def test_samplers_are_auto_the_optimisers_and_the_ode_methods():
    assert tuple(METHODS) == ODE_METHODS
    assert sampler_names() == ["auto", *available_optimizers(), *METHODS]
    for flow_matching in (True, False):  # the budget's default, for either family
        assert check_sampler("auto", flow_matching=flow_matching) == "auto"
    for method in METHODS:
        assert check_sampler(method, flow_matching=True) == method
        with pytest.raises(ValueError, match="EqM models sample by descent"):
            check_sampler(method, flow_matching=False)
    assert check_sampler("nag", flow_matching=False) == "nag"
    with pytest.raises(ValueError, match="flow-matching models sample with"):
        check_sampler("nag", flow_matching=True)


def test_recipe_validation_asks_the_same_list():
    with pytest.raises(ConfigError, match=r"sample\.sampler: optimizer: unknown name 'banana'"):
        load_config(None, ["sample.sampler=banana"])
    load_config(None, ["objective.kind=fm", "sample.sampler=heun"])


def test_dataset_names_come_from_the_loaders():
    assert (*IMAGE_DATASETS, *FILE_DATASETS, "latents", *TOY_DISTRIBUTIONS) == DATASET_NAMES
    images = [dataset_info(n).images for n in ("digits", "folder", "latents", "moons")]
    assert images == [1, 1, 1, 0]
    assert [dataset_info(n).named_heldout for n in ("mnist", "cifar10", "latents")] == [1, 0, 0]
    with pytest.raises(ValueError, match=r"data\.name: expected one of 'digits'"):
        dataset_info("cifar")
    from energykit.cli._args import EVALUATE_DATA

    assert set(EVALUATE_DATA) == set(DATASET_NAMES) - {"latents", *FILE_DATASETS}

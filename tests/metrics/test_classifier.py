"""The classifier-feature FID proxy on the bundled 8x8 digits."""

from __future__ import annotations

import pytest
import torch

from energykit.data import load_images
from energykit.metrics import fit_classifier


@pytest.fixture(scope="module")
def digits():
    return load_images("digits")


@pytest.fixture(scope="module")
def classifier(digits, tmp_path_factory):
    import os

    os.environ["ENERGYKIT_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    return fit_classifier(
        digits.x_train, digits.y_train, x_test=digits.x_test, y_test=digits.y_test, steps=600
    )


def test_classifier_is_accurate_and_cached_deterministically(digits, classifier):
    assert classifier.test_accuracy > 0.9
    fresh = fit_classifier(digits.x_train, digits.y_train, steps=600, cache=False)
    for k, v in classifier.state_dict().items():
        assert torch.equal(v, fresh.state_dict()[k]), k
    assert fit_classifier(digits.x_train, digits.y_train, steps=600) is classifier


def test_fid_proxy_orders_real_noisy_and_random_images(digits, classifier):
    real = classifier.fid(digits.x_test, digits.x_train)
    noisy = classifier.fid((digits.x_test + 0.5 * torch.randn_like(digits.x_test)), digits.x_train)
    rand = classifier.fid(torch.rand_like(digits.x_test) * 2 - 1, digits.x_train)
    assert real < noisy < rand


def test_class_entropy_detects_collapse(digits, classifier):
    assert classifier.class_entropy(digits.x_test) > 0.95
    ones = digits.x_test[digits.y_test == 1]
    assert classifier.class_entropy(ones) < 0.3

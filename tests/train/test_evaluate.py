"""Sample scoring: clipping, the escaped fraction, toy metrics, non-finite samples."""

from __future__ import annotations

import pytest
import torch

from energykit.train.build import build_data
from energykit.train.config import DataConfig
from energykit.train.evaluate import data_floor, score_samples


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    import os

    os.environ.setdefault("ENERGYKIT_CACHE", str(tmp_path_factory.mktemp("cache")))
    return build_data(DataConfig(name="digits"))


def test_images_are_clipped_and_escapes_counted(digits):
    x = digits.x_test[:200].clone()
    x[:20] *= 50.0  # 20 samples blow up
    scores = score_samples(x, digits)
    assert scores["escaped"] == pytest.approx(0.1)
    clipped = score_samples(x.clamp(-1, 1), digits)
    assert clipped["escaped"] == 0.0
    for key in ("fid_proxy", "class_entropy", "sw", "mmd"):
        assert scores[key] == clipped[key]


def test_non_finite_samples_raise(digits):
    x = digits.x_test[:10].clone()
    x[3, 0, 0, 0] = float("nan")
    with pytest.raises(FloatingPointError, match="1 of 10 samples are not finite"):
        score_samples(x, digits)


def test_toy_scores_and_floor():
    data = build_data(DataConfig(name="8gaussians"))
    floor = data_floor(data)
    assert floor["hit_rate"] > 0.99 and floor["modes_covered"] == 8
    assert abs(floor["mmd"]) < 0.01
    collapsed = torch.zeros(500, 2)
    scores = score_samples(collapsed, data)
    assert scores["hit_rate"] == 0.0 and scores["mmd"] > 0.1

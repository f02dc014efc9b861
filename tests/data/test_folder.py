"""ImageFolder: labels from sorted folders, the ADM centre crop, flips and errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from energykit.data import ImageFolder, center_crop_adm


def _save(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_centre_crop_of_an_exact_multiple_is_a_box_downsample_then_the_middle():
    # 64 x 32 (w x h) -> short side 32 >= 2 * 16: box-halve to 32 x 16, then cut the middle 16.
    arr = np.random.default_rng(0).integers(0, 256, size=(32, 64, 3), dtype=np.uint8)
    out = center_crop_adm(Image.fromarray(arr), 16)
    halved = arr.reshape(16, 2, 32, 2, 3).astype(np.float64).mean(axis=(1, 3))
    expected = halved[:, 8:24]
    assert out.shape == (16, 16, 3)
    assert np.abs(out.astype(np.float64) - expected).max() <= 1.0  # uint8 rounding only


def test_dataset_labels_range_and_flip(tmp_path):
    rng = np.random.default_rng(1)
    for cls, n in (("b_dog", 2), ("a_cat", 1)):
        for i in range(n):
            _save(tmp_path / cls / f"{i}.png", rng.integers(0, 256, (20, 30, 3), dtype=np.uint8))
    (tmp_path / "a_cat" / "notes.txt").write_text("not an image")
    ds = ImageFolder(tmp_path, 8, flip=False)
    assert ds.classes == ["a_cat", "b_dog"] and len(ds) == 3
    x, label = ds[0]
    assert label == 0 and x.shape == (3, 8, 8) and x.dtype == torch.float32
    assert float(x.min()) >= -1.0 and float(x.max()) <= 1.0
    expected = torch.from_numpy(ds.load(0).copy()).permute(2, 0, 1).float() / 127.5 - 1
    assert torch.equal(x, expected)
    flips = ImageFolder(tmp_path, 8, flip=True)
    gen = torch.Generator().manual_seed(0)
    seen = {bool(torch.equal(flips.__getitem__(0, gen)[0], x.flip(-1))) for _ in range(20)}
    assert seen == {True, False}  # both orientations occur


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="ImageFolder root"):
        ImageFolder(tmp_path / "missing", 8)
    (tmp_path / "empty_class").mkdir()
    with pytest.raises(ValueError, match="found none"):
        ImageFolder(tmp_path, 8)

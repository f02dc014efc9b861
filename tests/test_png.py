"""The standard-library PNG writer, read back by Pillow: exact pixels, gray and RGB."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from energykit._png import grid_pixels, png_bytes, write_png


@settings(max_examples=25, deadline=None)
@given(
    h=st.integers(1, 9), w=st.integers(1, 9), c=st.sampled_from([0, 1, 3]), seed=st.integers(0, 99)
)
def test_png_round_trips_exactly(h, w, c, seed):
    shape = (h, w) if c == 0 else (h, w, c)
    pixels = np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
    back = np.asarray(Image.open(io.BytesIO(png_bytes(pixels))))
    assert np.array_equal(back, pixels.squeeze(-1) if c == 1 else pixels)


def test_write_png_and_bad_images(tmp_path):
    path = write_png(tmp_path / "a" / "g.png", np.zeros((2, 3, 3), np.uint8))
    assert Image.open(path).size == (3, 2)
    with pytest.raises(ValueError, match="expected uint8"):
        png_bytes(np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match=r"expected \(H, W\), \(H, W, 1\) or \(H, W, 3\)"):
        png_bytes(np.zeros((2, 2, 4), np.uint8))
    assert grid_pixels(np.array([[-0.5, 0.0, 0.5, 1.0, 2.0]])).tolist() == [[0, 0, 128, 255, 255]]

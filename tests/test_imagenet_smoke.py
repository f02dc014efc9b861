"""The ImageNet pipeline end to end on CPU (recipes/imagenet256/smoke.py): latents through a
tiny AutoencoderKL, 2-process torchrun training, resume, sharded sampling with VAE decoding
and guidance, and FID with a stand-in feature network."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
import torch

pytest.importorskip("diffusers")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not torch.distributed.is_available(), reason="no torch.distributed"),
]

SMOKE = Path(__file__).resolve().parents[1] / "recipes" / "imagenet256" / "smoke.py"


def test_smoke_pipeline(tmp_path):
    spec = importlib.util.spec_from_file_location("smoke", SMOKE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    report = module.main(["--work", str(tmp_path / "smoke")])
    assert report["samples_shape"] == [10, 16, 16, 3]  # exactly n, decoded to 16 px RGB
    assert report["labels"] == [i % 4 for i in range(10)]
    assert report["pngs"] == 10
    assert report["logged_steps"] == [1, 2, 3, 4]  # 2 steps, then resumed for 2 more
    m = report["metrics"]
    assert math.isfinite(m["fid"]) and m["fid"] > 0 and 0 <= m["precision"] <= 1
    assert m["n_samples"] == 10 and m["n_reference"] == 24

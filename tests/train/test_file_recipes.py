"""The recipes of local image files train, tiny, with workers: `recipes/folder` on the MNIST
folder its script writes, `recipes/cifar10` on a generated binary release."""

from __future__ import annotations

import runpy
from pathlib import Path

import numpy as np
import pytest
import torch

from energykit.data import mnist_5k_path
from energykit.testing import tiny_cifar10
from energykit.train import Trainer, load_config

ROOT = Path(__file__).resolve().parents[2] / "recipes"
TINY = ["train.steps=2", "train.batch=8", "net.channels=[8, 8]", "sample.n=8"]


def test_folder_recipe_trains_on_the_folder_its_script_writes(tmp_path):
    script = runpy.run_path(str(ROOT / "folder" / "make_mnist_folder.py"))
    assert script["write_mnist_folder"](tmp_path / "png", limit=40) == 40
    cfg = load_config(ROOT / "folder" / "eqm.yaml", [*TINY, f"data.path={tmp_path / 'png'}"])
    assert (cfg.data.name, cfg.data.workers, cfg.data.size) == ("folder", 2, 28)
    trainer = Trainer(cfg, progress=False)
    trainer.fit()
    assert trainer.data.shape == (1, 28, 28) and trainer.data.num_classes is not None
    # The PNGs hold the bundled digits exactly: file OUT/<label>/<r>.png is row r of the file,
    # read back as data.name=mnist scales it.
    table = np.loadtxt(mnist_5k_path(), delimiter=",", dtype=np.float32)
    images = trainer.data.images
    for i in (0, len(images) - 1):
        row = table[int(images.files[i].stem)]
        want = torch.from_numpy(row[:784].reshape(1, 28, 28).copy()) / 255.0 * 2.0 - 1.0
        x, y = images[(i, None)]
        assert torch.equal(x, want) and images.classes[y] == str(int(row[784]))


def test_cifar10_recipe_needs_its_path_and_trains_on_a_binary_release(tmp_path):
    recipe = ROOT / "cifar10" / "eqm.yaml"
    with pytest.raises(FileNotFoundError, match=r"data\.path: no folder at '/path/to/cifar-10"):
        Trainer(load_config(recipe, TINY), progress=False)
    root = tiny_cifar10(tmp_path / "cifar-10-batches-bin", records=2)
    cfg = load_config(recipe, [*TINY, f"data.path={root}", "data.workers=2"])
    trainer = Trainer(cfg, progress=False)
    trainer.fit()
    assert trainer.data.shape == (3, 32, 32) and trainer.data.num_classes == 10

"""Image files as training data: the batch of a step is a function of (seed, step), so any
number of DataLoader workers gives the same batches, the same training and an exact resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import Dataset

from energykit._config import ConfigError
from energykit.testing import tiny_cifar10
from energykit.train import Trainer, load_config
from energykit.train.config import DataConfig
from energykit.train.data import build_data
from energykit.train.loader import KEY_RANGE, CarriedError, Loader

TINY = ["net.width=16", "net.depth=1", "train.batch=8", "train.log_every=1", "train.ckpt_every=2"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """12 gray 6x6 PNGs in 3 class folders."""
    root = tmp_path_factory.mktemp("png")
    rng = np.random.default_rng(0)
    for i in range(12):
        (root / f"c{i % 3}").mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (6, 6), dtype=np.uint8)).save(
            root / f"c{i % 3}/{i}.png"
        )
    return root


def _folder_cfg(root, **kw):
    return DataConfig(name="folder", path=str(root), size=4, flip=True, **kw)


def _batches(source, n, generator):
    return [source.batch(4, generator) for _ in range(n)]


def test_workers_give_the_in_process_batches_and_restart_from_any_state(folder):
    plain = build_data(_folder_cfg(folder, class_conditional=True))
    pooled = build_data(_folder_cfg(folder, class_conditional=True, workers=2))
    g0, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    early = g2.get_state()
    a, b = _batches(plain, 5, g0), _batches(pooled, 5, g2)
    assert torch.equal(g0.get_state(), g2.get_state())
    for (xa, ya), (xb, yb) in zip(a, b, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    g2.set_state(early)  # a resume to an earlier state: the plan restarts there
    assert all(torch.equal(x, a[i][0]) for i, (x, _) in enumerate(_batches(pooled, 2, g2)))
    # The oracle: indices then keys from the generator, each item flipped by its key.
    g = torch.Generator().manual_seed(3)
    pick = plain.loader.pool[torch.randint(len(plain.loader.pool), (4,), generator=g)]
    keys = torch.randint(KEY_RANGE, (4,), generator=g)
    want = torch.stack([plain.images[(int(i), int(k))][0] for i, k in zip(pick, keys, strict=True)])
    assert torch.equal(a[0][0], want) and torch.equal(
        a[0][1], torch.tensor([plain.images.label(int(i)) for i in pick])
    )
    assert plain.x_test.shape == (2, 1, 4, 4) and plain.num_classes == 3  # 20% of 12 held out


class Noisy(Dataset):
    """A user's Dataset: item i is a fixed tensor (no randomness of its own)."""

    def __len__(self):
        return 10

    def __getitem__(self, i):
        return torch.full((3,), float(i)), i % 2


def test_a_user_dataset_gets_the_same_batches_with_workers():
    cfgs = [
        load_config(
            None, [*TINY, f"data.workers={w}", "data.class_conditional=true", "data.num_classes=2"]
        )
        for w in (0, 2)
    ]
    runs = [Trainer(c, progress=False, data=Noisy()) for c in cfgs]
    g = [torch.Generator().manual_seed(1) for _ in runs]
    a, b = (_batches(r.data, 3, gen) for r, gen in zip(runs, g, strict=True))
    assert all(
        torch.equal(x[0], y[0]) and torch.equal(x[1], y[1]) for x, y in zip(a, b, strict=True)
    )
    # The draw is the one of the in-process reader: indices with replacement, nothing else.
    idx = torch.randint(10, (4,), generator=torch.Generator().manual_seed(1))
    assert torch.equal(a[0][0][:, 0], idx.float())
    assert runs[1].config.data.workers == 2


def _weights(trainer):
    return {k: v.clone() for k, v in trainer.state.model.state_dict().items()}


@pytest.mark.parametrize(
    ("name", "extra"),
    [("folder", []), ("folder", ["train.prefetch=true"]), ("cifar10", [])],
)
def test_training_with_workers_resumes_exactly(tmp_path, folder, name, extra):
    path = folder if name == "folder" else tiny_cifar10(tmp_path / "bin", records=2)
    data = [f"data.name={name}", f"data.path={path}", "data.class_conditional=true"]
    data += ["data.size=4"] if name == "folder" else []
    over = [*TINY, *data, *extra, "train.steps=4"]
    straight = Trainer(load_config(None, [*over, "data.workers=2"]), tmp_path / "a", progress=False)
    history = straight.fit()
    assert all(np.isfinite(r["loss"]) for r in history if "loss" in r)
    first = Trainer(load_config(None, [*over, "data.workers=0"]), tmp_path / "b", progress=False)
    first.fit(until=2)
    del first
    resumed = Trainer(load_config(None, [*over, "data.workers=2"]), tmp_path / "b", progress=False)
    assert resumed.step == 2
    resumed.fit()
    a, b = _weights(straight), _weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_config_errors_name_the_key(tmp_path, folder):
    with pytest.raises(ConfigError, match=r"data\.path: data\.name='cifar10' needs the cifar-10"):
        load_config(None, ["data.name=cifar10"])
    with pytest.raises(ConfigError, match=r"data\.size: data\.name='folder' needs"):
        load_config(None, ["data.name=folder", f"data.path={folder}"])
    with pytest.raises(ConfigError, match=r"data\.workers: expected a value >= 0"):
        load_config(None, ["data.workers=-1"])
    flat = tmp_path / "flat"
    flat.mkdir()
    for i in range(2):
        Image.fromarray(np.zeros((4, 4), np.uint8)).save(flat / f"{i}.png")
    with pytest.raises(ValueError, match="no class subfolders"):
        build_data(_folder_cfg(flat, class_conditional=True))
    source = build_data(_folder_cfg(flat))
    assert source.num_classes is None and source.y_test is None
    assert source.batch(3, torch.Generator())[1] is None


def _broken_folder(root):
    """4 noise PNGs whose headers read and whose pixel data is cut in half."""
    rng = np.random.default_rng(5)
    for i in range(4):
        (root / "c").mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8)).save(root / f"c/{i}.png")
    return root


def _cut(root):
    for f in sorted(root.rglob("*.png")):
        data = f.read_bytes()
        f.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("workers", [0, 2])
def test_a_bad_file_is_one_line_naming_it_with_any_workers(tmp_path, workers):
    good = _broken_folder(tmp_path / "ok")
    (good / "c" / "x.png").write_text("not an image")
    with pytest.raises(ValueError, match=r"^data\.path '.+': 'c/x\.png' is not a readable image"):
        build_data(_folder_cfg(good, workers=workers))  # the headers, read in this process
    (good / "c" / "x.png").unlink()
    # Pixels that do not decode, found by the held-out read and by a batch, in the workers.
    pattern = r"^data\.path '.+': 'c/\d\.png' is not a readable image \([^\n]+\)$"
    cut = _broken_folder(tmp_path / "cut")
    _cut(cut)
    with pytest.raises(ValueError, match=pattern):
        build_data(_folder_cfg(cut, workers=workers))
    source = build_data(_folder_cfg(good, workers=workers))
    _cut(good)
    g = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match=pattern) as err:
        source.batch(2, g)
    assert "DataLoader worker" not in str(err.value)  # torch's re-raise would name the worker
    if workers:
        assert "Traceback" in str(err.value.__cause__)  # kept for --debug
    with pytest.raises(ValueError, match=pattern):
        source.batch(2, g)  # a retry reads (and fails) again, the plan restarted


class Failing(Dataset):
    """A user's Dataset whose items raise a KeyError."""

    def __len__(self):
        return 4

    def __getitem__(self, i):
        raise KeyError(f"sample {i} is missing")


class UnpicklableError(Exception):
    def __init__(self, i, why):  # pickling calls UnpicklableError(message): a TypeError
        super().__init__(f"item {i}: {why}")


def test_worker_exceptions_come_back_as_themselves():
    loader = Loader(Failing(), torch.tensor([3]), list, workers=1, keyed=False)
    with pytest.raises(KeyError) as err:
        loader.batch(1, torch.Generator().manual_seed(0))
    assert type(err.value) is KeyError and str(err.value) == "'sample 3 is missing'"
    carried = CarriedError.of(UnpicklableError(2, "x"))
    assert type(carried.error) is RuntimeError
    assert str(carried.error) == "UnpicklableError: item 2: x"
    assert carried.trace.endswith("UnpicklableError: item 2: x\n")

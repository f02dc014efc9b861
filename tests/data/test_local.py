"""Local image files: a folder of PNG/JPEG (gray, RGB, class subfolders or flat), CIFAR-10's
binary release; the resize and crop against hand computations, keyed flips, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from energykit.data import Cifar10, FolderImages, image_files, open_local
from energykit.data.cifar10 import RECORD_BYTES
from energykit.data.keyed import keyed_flip
from energykit.testing import tiny_cifar10


def _save(path, array, suffix=".png"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path.with_suffix(suffix))


def _unit(pixels):
    """The scaling oracle, written from the maths: 2 p / 255 - 1."""
    return torch.from_numpy(np.asarray(pixels, dtype=np.float32)) / 255.0 * 2.0 - 1.0


def _one_line(err):
    assert "\n" not in str(err.value)
    return str(err.value)


def test_a_flat_gray_folder_has_one_channel_and_no_labels(tmp_path):
    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 256, (4, 4), dtype=np.uint8) for _ in range(3)]
    for i, a in enumerate(arrays):
        _save(tmp_path / f"{i}", a)
    ds = FolderImages(tmp_path, 4)
    assert (len(ds), ds.shape, ds.classes, ds.num_classes) == (3, (1, 4, 4), None, None)
    for i, a in enumerate(arrays):
        x, y = ds[(i, None)]
        assert y is None and torch.equal(x, _unit(a[None]))  # no resize at the same size


def test_nested_class_folders_give_sorted_labels_and_rgb(tmp_path):
    rng = np.random.default_rng(1)
    files = {"b_dog/deep/er/1": 1, "b_dog/0": 1, "a_cat/0": 0}
    arrays = {}
    for name in files:
        arrays[name] = rng.integers(0, 256, (5, 5, 3), dtype=np.uint8)
        _save(tmp_path / name, arrays[name])
    (tmp_path / "a_cat" / "notes.txt").write_text("not an image")
    (tmp_path / "empty").mkdir()  # a folder without images is not a class
    ds = FolderImages(tmp_path, 5)
    assert ds.classes == ("a_cat", "b_dog") and ds.shape == (3, 5, 5)
    got = {
        str(f.relative_to(tmp_path).with_suffix("")): ds[(i, None)] for i, f in enumerate(ds.files)
    }
    assert set(got) == set(files)
    for name, (x, y) in got.items():
        assert y == files[name] and torch.equal(x, _unit(arrays[name].transpose(2, 0, 1)))


def test_jpeg_reads_as_pil_decodes_it_and_the_first_image_sets_the_channels(tmp_path):
    rng = np.random.default_rng(2)
    _save(tmp_path / "a", rng.integers(0, 256, (6, 6, 3), dtype=np.uint8), ".jpg")
    _save(tmp_path / "b", rng.integers(0, 256, (6, 6), dtype=np.uint8), ".jpeg")
    ds = FolderImages(tmp_path, 6)
    assert ds.mode == "RGB" and ds.shape == (3, 6, 6)
    for i, f in enumerate(ds.files):
        decoded = np.asarray(Image.open(f).convert("RGB")).transpose(2, 0, 1)
        assert torch.equal(ds[(i, None)][0], _unit(decoded))  # the gray JPEG too, as RGB


def test_resize_and_centre_crop_match_hand_computations(tmp_path):
    # 6 wide x 4 high, side 2: the short side 4 >= 2 * 2, so a 2x2 box mean (sums chosen
    # divisible by 4, so no rounding) gives 3 x 2; then the left-centred 2 x 2 (left = 0).
    a = (np.arange(24, dtype=np.uint8).reshape(4, 6) * 8) % 240
    _save(tmp_path / "box" / "0", a)
    box = a.astype(np.float64).reshape(2, 2, 3, 2).mean(axis=(1, 3))
    assert np.all(box == np.round(box))
    ds = FolderImages(tmp_path / "box", 2)
    assert torch.equal(ds[(0, None)][0], _unit(box[None, :, 0:2]))
    # 5 wide x 3 high, side 3: no halving (3 < 6), no resize (3/3); the crop cuts cols 1..3.
    b = np.random.default_rng(3).integers(0, 256, (3, 5), dtype=np.uint8)
    _save(tmp_path / "crop" / "0", b)
    assert torch.equal(FolderImages(tmp_path / "crop", 3)[(0, None)][0], _unit(b[None, :, 1:4]))


def test_flips_are_keyed_and_never_global(tmp_path):
    _save(tmp_path / "0", np.arange(16, dtype=np.uint8).reshape(4, 4) * 10)
    flips, plain = FolderImages(tmp_path, 4, flip=True), FolderImages(tmp_path, 4)
    x = plain[(0, None)][0]
    seen = set()
    for key in range(16):
        torch.manual_seed(key)  # the global RNG has no say
        a = flips[(0, key)][0]
        torch.manual_seed(key + 100)
        assert torch.equal(a, flips[(0, key)][0])
        assert torch.equal(a, x.flip(-1) if keyed_flip(key) else x)
        assert torch.equal(plain[(0, key)][0], x)  # flip=False never mirrors
        seen.add(keyed_flip(key))
    assert seen == {True, False} and torch.equal(flips[(0, None)][0], x)


def test_folder_errors_are_one_clear_line(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"data\.path: no folder"):
        FolderImages(tmp_path / "missing", 4)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="found none") as err:
        FolderImages(tmp_path / "empty", 4)
    _one_line(err)
    _save(tmp_path / "mixed" / "loose", np.zeros((4, 4), np.uint8))
    _save(tmp_path / "mixed" / "cls" / "0", np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="got both") as err:
        FolderImages(tmp_path / "mixed", 4)
    _one_line(err)
    with pytest.raises(ValueError, match=r"data\.size"):
        open_local("folder", tmp_path / "mixed" / "cls")
    with pytest.raises(ValueError, match="at least 2 images"):
        open_local("folder", tmp_path / "mixed" / "cls", size=4)


def test_folder_split_is_seeded_and_disjoint(tmp_path):
    for i in range(10):
        _save(tmp_path / f"{i}", np.full((4, 4), i, np.uint8))
    split = open_local("folder", tmp_path, size=4, test_fraction=0.3, split_seed=1)
    again = open_local("folder", tmp_path, size=4, test_fraction=0.3, split_seed=1)
    train, test = set(split.train_index.tolist()), set(split.test_index.tolist())
    assert len(test) == 3 and not train & test and train | test == set(range(10))
    assert torch.equal(split.test_index, again.test_index)


def test_cifar10_binary_records_read_back_exactly(tmp_path):
    root = tiny_cifar10(tmp_path / "bin", records=3)
    raw = [
        np.frombuffer((root / f"data_batch_{k}.bin").read_bytes(), np.uint8) for k in range(1, 6)
    ]
    records = np.concatenate(raw).reshape(-1, RECORD_BYTES)
    ds = Cifar10(root, "train")
    assert len(ds) == 15 and ds.shape == (3, 32, 32) and ds.num_classes == 10
    for i in (0, 2, 3, 14):  # across the file boundaries
        x, y = ds[(i, None)]
        assert y == records[i, 0]
        # The record: 1,024 R, then G, then B values, each plane row-major 32 x 32.
        planes = records[i, 1:].reshape(3, 32, 32)
        assert torch.equal(x, _unit(planes))
        assert int(planes[1, 0, 1]) == int(records[i, 1 + 1024 + 1])
    held = np.frombuffer((root / "test_batch.bin").read_bytes(), np.uint8).reshape(3, -1)
    test = Cifar10(root, "test", flip=True)
    assert len(test) == 3
    for key in range(4):
        x, y = test[(1, key)]
        planes = _unit(held[1, 1:].reshape(3, 32, 32))
        assert y == held[1, 0] and torch.equal(x, planes.flip(-1) if keyed_flip(key) else planes)
    split = open_local("cifar10", root, flip=True)
    assert split.train.flip and not split.test.flip and len(split.test_index) == 3


def test_cifar10_errors_say_what_was_given(tmp_path):
    with pytest.raises(FileNotFoundError, match="no folder") as err:
        Cifar10(tmp_path / "nowhere")
    _one_line(err)
    pickled = tmp_path / "cifar-10-batches-py"
    pickled.mkdir()
    for name in ("data_batch_1", "batches.meta", "test_batch"):
        (pickled / name).write_bytes(b"\x80\x04")
    with pytest.raises(FileNotFoundError, match="pickled Python release") as err:
        Cifar10(pickled)
    _one_line(err)
    tiny_cifar10(tmp_path / "parent" / "cifar-10-batches-bin")
    with pytest.raises(FileNotFoundError, match="one level down"):
        Cifar10(tmp_path / "parent")
    root = tiny_cifar10(tmp_path / "bad")
    (root / "data_batch_3.bin").write_bytes(b"\x00" * (RECORD_BYTES + 5))
    with pytest.raises(
        ValueError, match="3078 bytes, expected a non-zero multiple of the 3073"
    ) as err:
        Cifar10(root)
    _one_line(err)
    root = tiny_cifar10(tmp_path / "labels")
    (root / "test_batch.bin").write_bytes(bytes([10]) + b"\x00" * (RECORD_BYTES - 1))
    with pytest.raises(ValueError, match="label byte 10"):
        Cifar10(root, "test")
    with pytest.raises(ValueError, match=r"data\.size: CIFAR-10 images are 32x32"):
        open_local("cifar10", tiny_cifar10(tmp_path / "ok"), size=28)


def _wide_oracle(values):
    """16 bits to 8, by hand: round(v / 257), no ties (v = 257 k + 128.5 has no integer v)."""
    return np.array([[int(v / 257 + 0.5) for v in row] for row in values], np.uint8)


# Values around the rounding edges: 128/257 = 0.498, 129/257 = 0.502, 65520/257 = 254.94.
WIDE = [[0, 128, 129, 385], [386, 32767, 32896, 40000], [65280, 65407, 65408, 65520]] * 2


def test_16_bit_pngs_scale_to_the_8_bit_range_never_clip(tmp_path):
    arr = np.array(WIDE[:4], np.uint16)  # 4 x 4
    _save(tmp_path / "gray" / "0", arr)
    assert Image.open(tmp_path / "gray" / "0.png").mode == "I;16"
    ds = FolderImages(tmp_path / "gray", 4)
    want = _wide_oracle(arr)
    assert ds.shape == (1, 4, 4) and want[0, 0] == 0 and want[2, 3] == 255
    assert torch.equal(ds[(0, None)][0], _unit(want[None]))  # 0 -> -1, 65535 -> 1
    assert ds[(0, None)][0].min() == -1.0 and ds[(0, None)][0].max() == 1.0
    # After an RGB first file, a 16-bit one is reduced first, then replicated to 3 channels.
    _save(tmp_path / "mixed" / "a", np.zeros((4, 4, 3), np.uint8))
    _save(tmp_path / "mixed" / "b", arr)
    x = FolderImages(tmp_path / "mixed", 4)[(1, None)][0]
    assert torch.equal(x, _unit(np.stack([want] * 3)))


def test_32_bit_integer_and_float_images(tmp_path):
    # PIL opens by content: TIFF bytes under a .png name, as mode I (int32) and F (float32).
    arr = np.array(WIDE[:4], np.int32)
    Image.fromarray(arr).save(tmp_path / "i.png", format="TIFF")
    assert Image.open(tmp_path / "i.png").mode == "I"
    assert torch.equal(FolderImages(tmp_path, 4)[(0, None)][0], _unit(_wide_oracle(arr)[None]))
    Image.fromarray(arr - 1).save(tmp_path / "i.png", format="TIFF")  # holds -1
    with pytest.raises(ValueError, match=r"'i\.png' \(PIL mode 'I'\) holds values -1\.\.65519"):
        FolderImages(tmp_path, 4)[(0, None)]
    Image.fromarray(arr.astype(np.float32)).save(tmp_path / "f.png", format="TIFF")
    with pytest.raises(ValueError, match=r"'f\.png' has PIL mode 'F', expected one of 1, ") as e:
        FolderImages(tmp_path, 4)
    assert "I;16" in _one_line(e)


def test_a_non_image_or_broken_file_is_named_in_one_line(tmp_path):
    _save(tmp_path / "a", np.zeros((4, 4), np.uint8))
    (tmp_path / "x.png").write_text("not an image")
    with pytest.raises(ValueError, match=r"data\.path '.+': 'x\.png' is not a readable image \("):
        FolderImages(tmp_path, 4)  # every header is read when the dataset is built
    # A header that reads and pixels that do not: named when the image is read.
    noise = np.random.default_rng(4).integers(0, 256, (32, 32), dtype=np.uint8)
    _save(tmp_path / "x", noise)  # incompressible: the pixel data is most of the file
    good = (tmp_path / "x.png").read_bytes()
    (tmp_path / "x.png").write_bytes(good[: len(good) // 2])
    ds = FolderImages(tmp_path, 4)
    with pytest.raises(ValueError, match=r"'x\.png' is not a readable image \(") as err:
        ds[(1, None)]
    _one_line(err)


def test_hidden_names_are_skipped_and_each_class_folder_walked_once(tmp_path, monkeypatch):
    _save(tmp_path / "cls" / "a", np.zeros((4, 4), np.uint8))
    (tmp_path / "cls" / "._a.png").write_bytes(b"\x00\x05\x16\x07AppleDouble")  # macOS
    _save(tmp_path / "cls" / ".ipynb_checkpoints" / "a-checkpoint", np.ones((4, 4), np.uint8))
    _save(tmp_path / ".hidden" / "b", np.ones((4, 4), np.uint8))  # not a class
    (tmp_path / "__MACOSX").mkdir()
    (tmp_path / "__MACOSX" / "._a.png").write_bytes(b"\x00\x05\x16\x07")  # no images: no class
    walked = []
    walk = image_files.os.walk
    monkeypatch.setattr(image_files.os, "walk", lambda top: walked.append(top) or walk(top))
    ds = FolderImages(tmp_path, 4)
    assert ds.files == [tmp_path / "cls" / "a.png"] and ds.classes == ("cls",)
    assert sorted(walked) == [tmp_path / "__MACOSX", tmp_path / "cls"]
    _save(tmp_path / "._b", np.zeros((4, 4), np.uint8))  # hidden, so not a loose file
    assert FolderImages(tmp_path, 4).classes == ("cls",)

"""Cached latents: the posterior-sample formula, views, shard I/O, checksums, resumable
encoding through a tiny AutoencoderKL, and the Trainer reading them."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest
import torch

pytest.importorskip("diffusers")
pytest.importorskip("PIL")

from energykit.data import ImageFolder
from energykit.data.encode import encode_folder
from energykit.data.latents import (
    LATENTS_FORMAT,
    LatentStore,
    verify_latents,
    write_json_atomic,
    write_shard,
)
from energykit.interop.vae import (
    decode_latents,
    encode_moments,
    load_vae,
    vae_scaling_factor,
)
from energykit.testing import tiny_image_folder, tiny_vae


def _handmade(folder, counts=(3, 2), views=2, scale=0.5):
    """Shards with known moments: mean = index + 10 * view, std = 0.1 * (index + 1)."""
    folder.mkdir(parents=True, exist_ok=True)
    records, start = [], 0
    for s, n in enumerate(counts):
        idx = np.arange(start, start + n, dtype=np.float32)
        m = np.zeros((n, views, 2, 1, 2, 2), dtype=np.float32)
        for v in range(views):
            m[:, v, 0] = (idx + 10 * v)[:, None, None, None]
            m[:, v, 1] = (0.1 * (idx + 1))[:, None, None, None]
        records.append(write_shard(folder, s, m, (idx % 2).astype(np.int64)))
        start += n
    write_json_atomic(
        folder / "manifest.json",
        {
            "format": LATENTS_FORMAT,
            "count": start,
            "latent_shape": [1, 2, 2],
            "views": views,
            "scaling_factor": scale,
            "classes": ["a", "b"],
            "image_size": 4,
            "vae": "handmade",
            "shards": records,
        },
    )
    return folder


def test_sample_is_scaled_mean_plus_std_times_noise(tmp_path):
    store = LatentStore(_handmade(tmp_path / "l"), flip=False)
    idx = torch.tensor([4, 0, 2, 4])  # crosses shards, repeats, out of order
    gen = torch.Generator().manual_seed(3)
    z = store.sample(idx, gen)
    eps = torch.randn((4, 1, 2, 2), generator=torch.Generator().manual_seed(3))
    mean = idx.float()[:, None, None, None]
    std = (0.1 * (idx.float() + 1)).half().float()[:, None, None, None]  # stored as float16
    torch.testing.assert_close(z, 0.5 * (mean + std * eps), rtol=0, atol=1e-6)
    assert store.labels.tolist() == [0, 1, 0, 1, 0] and store.num_classes == 2


def test_flip_draws_the_mirrored_view(tmp_path):
    store = LatentStore(_handmade(tmp_path / "l"), flip=True)
    m = store.moments(np.arange(5), view=np.array([1, 0, 1, 0, 1]))
    assert m[:, 0, 0, 0, 0].tolist() == [10, 1, 12, 3, 14]
    # Drawn views are a fair coin and the draw is reproducible.
    z1 = store.sample(torch.zeros(400, dtype=torch.long), torch.Generator().manual_seed(0))
    z2 = store.sample(torch.zeros(400, dtype=torch.long), torch.Generator().manual_seed(0))
    assert torch.equal(z1, z2)
    mirrored = (z1.mean(dim=(1, 2, 3)) > 2.5).double().mean()
    assert 0.4 < mirrored < 0.6


def test_truncated_shard_and_corruption_are_caught(tmp_path):
    folder = _handmade(tmp_path / "l")
    assert verify_latents(folder) == []
    data = bytearray((folder / "shard_00001.npy").read_bytes())
    data[-1] ^= 0xFF
    (folder / "shard_00001.npy").write_bytes(bytes(data))
    assert verify_latents(folder) == ["shard_00001.npy"]
    (folder / "shard_00000.npy").write_bytes(b"short")
    with pytest.raises(ValueError, match=r"expected .* bytes"):
        LatentStore(folder)
    with pytest.raises(FileNotFoundError, match="energykit latents IMAGE_DIR"):
        LatentStore(tmp_path / "nothing")


@pytest.fixture(scope="module")
def encoded(tmp_path_factory):
    root = tmp_path_factory.mktemp("enc")
    images = tiny_image_folder(root / "images", classes=3, per_class=3)
    vae_dir = tiny_vae(root / "vae")
    vae = load_vae(vae_dir)
    manifest = _encode(images, root / "lat", vae, shard_size=4)
    return root, images, vae, manifest


def _encode(images, out, vae, **kw):
    kw = {"image_size": 16, "batch": 2, "progress": False, **kw}
    encode = functools.partial(encode_moments, vae)
    return encode_folder(images, out, encode, scaling_factor=vae_scaling_factor(vae), **kw)


def test_encoding_matches_the_vae_on_cropped_images(encoded):
    root, images, vae, manifest = encoded
    assert manifest.count == 9 and len(manifest.shards) == 3 and manifest.views == 2
    assert manifest.latent_shape == (4, 8, 8) and manifest.scaling_factor == 0.18215
    folder = ImageFolder(images, 16, flip=False)
    x = torch.stack([folder[i][0] for i in range(9)])
    want = encode_moments(vae, x)
    want_flip = encode_moments(vae, x.flip(-1))
    store = LatentStore(root / "lat")
    got = store.moments(np.arange(9))
    got_flip = store.moments(np.arange(9), view=np.ones(9, dtype=np.int64))
    # Stored as float16: relative error below 2^-10.
    torch.testing.assert_close(got, want, rtol=2e-3, atol=1e-4)
    torch.testing.assert_close(got_flip, want_flip, rtol=2e-3, atol=1e-4)
    assert store.labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert verify_latents(root / "lat") == []


def test_encoding_resumes_and_refuses_other_settings(encoded, monkeypatch):
    root, images, vae, _ = encoded
    before = {p.name: p.stat().st_mtime_ns for p in (root / "lat").glob("shard_*.npy")}
    (root / "lat" / "shard_00001.json").unlink()  # as if interrupted inside shard 1
    calls = []

    def counting_write_shard(folder, index, *args):
        calls.append(index)
        return write_shard(folder, index, *args)

    monkeypatch.setattr("energykit.data.encode.write_shard", counting_write_shard)
    _encode(images, root / "lat", vae, shard_size=4)
    assert calls == [1]
    after = {p.name: p.stat().st_mtime_ns for p in (root / "lat").glob("shard_*.npy")}
    assert after["shard_00000.npy"] == before["shard_00000.npy"]
    with pytest.raises(ValueError, match="shard_size: 4 -> 5"):
        _encode(images, root / "lat", vae, shard_size=5)


def test_decode_gives_uint8_images(encoded):
    _, _, vae, _ = encoded
    img = decode_latents(vae, torch.zeros(2, 4, 8, 8))
    assert img.dtype == torch.uint8 and img.shape == (2, 3, 16, 16)


def test_missing_vae_says_how_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="hf download stabilityai"):
        load_vae("stabilityai/not-in-any-cache-xyz")


def test_trainer_reads_latents_and_resumes_exactly(encoded, tmp_path):
    from energykit.train import Trainer, load_config

    root = encoded[0]
    overrides = [
        "data.name=latents",
        f"data.path={root / 'lat'}",
        "data.class_conditional=true",
        "net.kind=dit",
        "net.preset=EqM-S/2",
        "net.dit_depth=1",
        "net.dit_width=32",
        "net.dit_heads=2",
        "train.batch=4",
        "train.grad_accum=2",
        "train.ckpt_every=2",
        "train.steps=3",
    ]
    cfg = load_config(None, overrides)
    straight = Trainer(cfg, tmp_path / "a", progress=False)
    straight.fit()
    part = Trainer(cfg, tmp_path / "b", progress=False)
    part.fit(until=2)
    resumed = Trainer(cfg, tmp_path / "b", progress=False)
    assert resumed.step == 2
    resumed.fit()
    for k, v in straight.state.model.state_dict().items():
        assert torch.equal(v, resumed.state.model.state_dict()[k]), k
    assert straight.data.shape == (4, 8, 8) and straight.num_classes == 3
    meta = json.loads((tmp_path / "a" / "config.json").read_text())
    assert meta["net"]["kind"] == "dit"


def test_the_settings_guard_keeps_its_format(encoded):
    root, _, _, manifest = encoded
    want = {
        "count": 9,
        "image_size": 16,
        "shard_size": 4,
        "flip": True,
        "classes": list(manifest.classes),
    }
    # Byte for byte what earlier versions wrote, so their folders resume.
    assert (root / "lat" / "encode-settings.json").read_text() == json.dumps(want, indent=2)


def test_a_half_written_shard_is_redone_and_stale_temps_are_removed(encoded, tmp_path, monkeypatch):
    import shutil

    root, images, vae, _ = encoded
    folder = shutil.copytree(root / "lat", tmp_path / "lat")
    (folder / "manifest.json").unlink()
    shard = folder / "shard_00002.npy"
    shard.write_bytes(shard.read_bytes()[:-7])  # killed while copying: marker kept, file short
    temp = folder / ".shard_00001.labels.npy.0123abcd.tmp"  # an interrupted atomic write
    temp.write_bytes(b"partial")
    calls = []

    def counting_write_shard(folder, index, *args):
        calls.append(index)
        return write_shard(folder, index, *args)

    monkeypatch.setattr("energykit.data.encode.write_shard", counting_write_shard)
    _encode(images, folder, vae, shard_size=4)
    assert calls == [2] and not temp.exists()
    assert verify_latents(folder) == []

"""FID / precision / recall with a user-supplied TorchScript feature network."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from energykit.metrics import frechet_from_stats, gaussian_stats
from energykit.metrics.inception import (
    FeatureNetwork,
    fid_report,
    knn_radii,
    precision_recall,
)
from energykit.testing import StandInFeatures, standin_feature_network


def _brute_precision_recall(real, fake, k):
    def radii(f):
        d = torch.cdist(f, f)
        return d.sort(dim=1).values[:, k]

    def covered(q, c, r):
        return sum(
            any(float(torch.dist(qi, cj)) <= float(rj) for cj, rj in zip(c, r, strict=True))
            for qi in q
        ) / len(q)

    return covered(fake, real, radii(real)), covered(real, fake, radii(fake))


@given(st.integers(0, 10_000), st.integers(1, 3))
def test_precision_recall_match_a_brute_force_loop(seed, k):
    g = torch.Generator().manual_seed(seed)
    real, fake = torch.randn(12, 3, generator=g), torch.randn(9, 3, generator=g) + 0.5
    got = precision_recall(real, fake, k)
    want = _brute_precision_recall(real.float(), fake.float(), k)
    assert got == pytest.approx(want)


def test_knn_radii_blocks_agree():
    f = torch.randn(50, 4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(knn_radii(f, 3, block=7), knn_radii(f, 3, block=1024))


def test_fid_report_is_the_frechet_distance_of_the_network_features(tmp_path):
    path = standin_feature_network(tmp_path / "net.pt")
    net = FeatureNetwork(path, batch=5)
    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, (20, 12, 12, 3), dtype=np.uint8)
    b = rng.integers(0, 128, (16, 12, 12, 3), dtype=np.uint8)
    report = fid_report(a, b, net)
    eager = StandInFeatures()
    fa = eager(torch.from_numpy(a).permute(0, 3, 1, 2)).double().detach()
    fb = eager(torch.from_numpy(b).permute(0, 3, 1, 2)).double().detach()
    want = float(frechet_from_stats(*gaussian_stats(fa), *gaussian_stats(fb)))
    assert report["fid"] == pytest.approx(want, rel=1e-6)
    assert report["n_samples"] == 20 and report["n_reference"] == 16
    same = fid_report(a, a, net)
    assert abs(same["fid"]) < 1e-6 and same["precision"] == same["recall"] == 1.0


def test_feature_network_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"inception-2015-12-05\.pt"):
        FeatureNetwork(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="expected a TorchScript module"):
        FeatureNetwork(tmp_path / "junk.pt")
    net = FeatureNetwork(standin_feature_network(tmp_path / "n.pt"))
    with pytest.raises(ValueError, match=r"expected uint8 \(n, H, W, 3\)"):
        net(np.zeros((2, 3, 8, 8), dtype=np.float32))


def test_cli_uses_precomputed_reference_statistics(tmp_path):
    import json

    from energykit.cli import main

    net_path = standin_feature_network(tmp_path / "net.pt")
    rng = np.random.default_rng(1)
    samples = rng.integers(0, 255, (12, 8, 8, 3), dtype=np.uint8)
    ref_images = rng.integers(0, 255, (10, 8, 8, 3), dtype=np.uint8)
    mu, sigma = torch.full((32,), 0.1, dtype=torch.float64), torch.eye(32, dtype=torch.float64)
    np.savez(tmp_path / "s.npz", arr_0=samples)
    np.savez(tmp_path / "r.npz", arr_0=ref_images, mu=mu.numpy(), sigma=sigma.numpy())
    args = ["evaluate", str(tmp_path / "s.npz"), "--ref", str(tmp_path / "r.npz")]
    assert main([*args, "--inception", str(net_path), "--json", str(tmp_path / "a.json")]) == 0
    got = json.loads((tmp_path / "a.json").read_text())
    fs = FeatureNetwork(net_path)(samples)
    want = float(frechet_from_stats(*gaussian_stats(fs), mu, sigma))
    assert got["fid"] == pytest.approx(want, rel=1e-9) and got["reference_stats"] == "precomputed"
    flags = ["--inception", str(net_path), "--ref-images", "--json", str(tmp_path / "b.json")]
    assert main([*args, *flags]) == 0
    own = json.loads((tmp_path / "b.json").read_text())
    assert own["reference_stats"] == "images" and own["fid"] != pytest.approx(got["fid"])

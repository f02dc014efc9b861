"""`energykit evaluate SAMPLES [--data NAME | --ref REFERENCE [--inception NET.pt]]`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

from energykit._io import load_npz
from energykit.cli._common import check_out_file, read_samples, same_shape
from energykit.data import DATASETS
from energykit.train import ConfigError, DataConfig
from energykit.train.build import build_data
from energykit.train.config import available_device
from energykit.train.evaluate import SW_PROJECTIONS, score_samples

#: Datasets `energykit evaluate` can score against by name (each has a held-out split).
EVALUATE_DATA = tuple(name for name, info in DATASETS.items() if info.named_heldout)


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Score samples: FID / precision / recall (`--inception`), distances to reference
    samples (`--ref`), or the metrics of the dataset they came from (`--data`)."""
    device = available_device(args.device, "--device")
    if args.json is not None:
        check_out_file(args.json, "--json")
    if args.ref_images and args.inception is None:
        raise ConfigError("--ref-images: only with --inception (FID against --ref images)")
    x, meta = read_samples(args.samples, "SAMPLES")
    if args.inception is not None:
        metrics = _fid_metrics(x, args, device)
    elif args.ref is not None:
        metrics = _distances(x, args.ref)
    else:
        metrics = _score_against_data(x, args.data, meta.get("dataset"))
    text = json.dumps(metrics, indent=2)
    print(text)
    if args.json is not None:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(text)
    return 0


def _fid_metrics(x: torch.Tensor, args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    """FID, precision and recall against `--ref` images with the `--inception` network."""
    from energykit.metrics.inception import FeatureNetwork, fid_report
    from energykit.sampling import to_uint8_images

    if args.ref is None:
        raise ConfigError("--inception: needs --ref REFERENCE.npz (ADM layout)")
    ref, _ = read_samples(args.ref, "--ref")
    x, ref = (t if t.dtype == torch.uint8 else to_uint8_images(t) for t in (x, ref))
    net = FeatureNetwork(args.inception, device)
    stats = None
    if Path(args.ref).suffix == ".npz" and not args.ref_images:
        f = load_npz(args.ref, what="--ref")
        if "mu" in f and "sigma" in f:  # ADM reference batches carry these
            mu, sigma = f["mu"], f["sigma"]
            stats = (torch.from_numpy(mu).double(), torch.from_numpy(sigma).double())
    return fid_report(x, ref, net, pr_max=args.pr_max, reference_stats=stats)


def _distances(x: torch.Tensor, path: str) -> dict[str, Any]:
    """MMD, sliced Wasserstein, energy and pixel Frechet distances to the samples at `path`."""
    from energykit.metrics import energy_distance, frechet_distance, mmd, sliced_wasserstein

    ref, _ = read_samples(path, "--ref")
    same_shape(x, ref, "--ref", f"the reference {path!r}")
    x, ref = x.float(), ref.float()
    gen = torch.Generator().manual_seed(0)
    return {
        "mmd": float(mmd(x, ref)),
        "sw": float(sliced_wasserstein(x, ref, n_projections=SW_PROJECTIONS, generator=gen)),
        "energy": float(energy_distance(x, ref)),
        "frechet_pixels": float(frechet_distance(x, ref)),
    }


def _score_against_data(x: torch.Tensor, flag: str | None, recorded: Any) -> dict[str, Any]:
    """`score_samples` against `--data` (`flag`) or the dataset the samples record."""
    name = flag or recorded
    key = "--data" if flag else "SAMPLES"
    if name is None:
        raise ConfigError("evaluate: give --data NAME or --ref FILE (the samples carry neither)")
    if name not in EVALUATE_DATA:
        raise ConfigError(
            f"{key}: the samples record the dataset {name!r}, which has no held-out split "
            f"here; give --data (one of {list(EVALUATE_DATA)}) or --ref FILE"
        )
    data = build_data(DataConfig(name=name))
    same_shape(x, data.x_test, key, f"the {name!r} data")
    return score_samples(x, data)

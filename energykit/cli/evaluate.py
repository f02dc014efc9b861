"""`energykit evaluate SAMPLES [--data NAME | --ref REFERENCE [--inception NET.pt]]`.

Prints a table by default: each metric, its value, against a dataset (`--data`, or the one
the samples file records) the data floor (real held-out samples scored the same way: as many
as the samples, or the whole split where it is smaller),
whether lower or higher is better, the set it was measured against (dataset and split, or the
`--ref` file, with its size) and what it is. `--json -` prints the metrics as JSON instead;
`--json FILE` writes them there.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from energykit._config import available_device
from energykit._io import load_npz
from energykit.cli._args import EVALUATE_DATA
from energykit.cli._common import check_out_file, read_samples, same_shape
from energykit.cli._reference import refuse_reference
from energykit.train import ConfigError, DataConfig
from energykit.train.data import build_data
from energykit.train.scoring import (
    METRICS,
    SW_PROJECTIONS,
    data_floor,
    floor_size,
    reference_of,
    score_samples,
)

#: Column titles of the table `energykit evaluate` prints.
COLUMNS = ("metric", "value", "floor", "better", "reference", "what it is")


@dataclass(frozen=True)
class Report:
    """Metrics of a samples file and the set they were measured against.

    Attributes:
        metrics: Metric name to value (and, from `--inception`, a few counts).
        reference: What the samples were compared with: `kind` (`"dataset"` or `"file"`),
            `dataset` and `split`, or `path`, and `n`, its number of samples.
        n_samples: Number of samples scored.
        floor: Against a dataset: the same metrics of real held-out samples, and `n`, how many
            (`energykit.train.scoring.data_floor`); `None` otherwise.
    """

    metrics: dict[str, Any]
    reference: dict[str, Any]
    n_samples: int
    floor: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The metrics, then `n_samples`, `reference` and `floor` (what `--json` writes)."""
        out = {**self.metrics, "n_samples": self.n_samples, "reference": self.reference}
        return out if self.floor is None else {**out, "floor": self.floor}


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Score samples: FID / precision / recall (`--inception`), distances to reference
    samples (`--ref`), or the metrics of the dataset they came from (`--data`); print a table
    (or JSON with `--json -`) and write JSON to `--json FILE`."""
    device = available_device(args.device, "--device")
    if args.json not in (None, "-"):
        check_out_file(args.json, "--json")
    if args.ref_images and args.inception is None:
        raise ConfigError("--ref-images: only with --inception (FID against --ref images)")
    x, meta = _read(args.samples, "SAMPLES")
    if args.inception is not None:
        report = _fid_metrics(x, args, device)
    elif args.ref is not None:
        report = _distances(x, args.ref)
    else:
        report = _score_against_data(x, args.data, meta.get("dataset"))
    text = json.dumps(report.to_json(), indent=2)
    print(text if args.json == "-" else table(report, args.samples))
    if args.json not in (None, "-"):
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(text)
    return 0


def _read(path: str, flag: str) -> tuple[torch.Tensor, dict[str, Any]]:
    """`read_samples`; a reference EqM checkpoint is refused saying how to sample it."""
    try:
        return read_samples(path, flag)
    except ValueError:
        refuse_reference(path, flag, "make one with {sample}", "a samples file")
        raise


def table(report: Report, samples: str) -> str:
    """The human-readable report: a line naming both sides, then one row per metric."""
    short = describe_reference(report.reference, short=True)
    floor = report.floor or {}
    rows = [
        [
            key,
            _number(report.metrics[key]),
            _number(floor[key]) if key in floor else "-",
            info.better,
            info.against or short,
            info.what,
        ]
        for key, info in METRICS.items()
        if key in report.metrics
    ]
    head = (
        f"{report.n_samples} samples from {samples} against {describe_reference(report.reference)}"
    )
    if report.floor is not None:
        ref = report.reference
        head += (
            f"\nfloor: {floor['n']} real {ref['dataset']} samples not seen in training, "
            "scored the same way"
        )
    return f"{head}\n\n{aligned_table(COLUMNS, rows)}"


def describe_reference(reference: dict[str, Any], short: bool = False) -> str:
    """`reference` (see `Report`) in words, with its size (`short`: for a table cell)."""
    n = reference["n"]
    if reference["kind"] == "dataset":
        name, split = reference["dataset"], reference["split"]
        return f"{name} {split} ({n})" if short else f"the {name} {split} split ({n} samples)"
    path = reference["path"]
    if short:
        return f"--ref {path} ({n})"
    stats = reference.get("stats")
    extra = "; FID from its mu/sigma statistics" if stats == "precomputed" else ""
    return f"--ref {path} ({n} samples{extra})"


def aligned_table(header: tuple[str, ...], rows: list[list[str]]) -> str:
    """A Markdown table padded so its columns line up in a terminal."""
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]

    def line(cells: list[str] | tuple[str, ...]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), rule, *map(line, rows)])


def _number(value: Any) -> str:
    """A metric value in a cell: integers as they are, floats to four significant digits."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _fid_metrics(x: torch.Tensor, args: argparse.Namespace, device: torch.device) -> Report:
    """FID, precision and recall against `--ref` images with the `--inception` network."""
    from energykit.metrics.inception import FeatureNetwork, fid_report
    from energykit.sampling import to_uint8_images

    if args.ref is None:
        raise ConfigError("--inception: needs --ref REFERENCE.npz (ADM layout)")
    ref, _ = _read(args.ref, "--ref")
    x, ref = (t if t.dtype == torch.uint8 else to_uint8_images(t) for t in (x, ref))
    net = FeatureNetwork(args.inception, device)
    stats = None
    if Path(args.ref).suffix == ".npz" and not args.ref_images:
        f = load_npz(args.ref, what="--ref", keys=("mu", "sigma"))  # not the images again
        if "mu" in f and "sigma" in f:  # ADM reference batches carry these
            mu, sigma = f["mu"], f["sigma"]
            stats = (torch.from_numpy(mu).double(), torch.from_numpy(sigma).double())
    metrics = fid_report(x, ref, net, pr_max=args.pr_max, reference_stats=stats)
    source = {"kind": "file", "path": args.ref, "n": len(ref), "stats": metrics["reference_stats"]}
    return Report(metrics, source, len(x))


def _distances(x: torch.Tensor, path: str) -> Report:
    """MMD, sliced Wasserstein, energy and pixel Frechet distances to the samples at `path`."""
    from energykit.metrics import energy_distance, frechet_distance, mmd, sliced_wasserstein

    ref, _ = _read(path, "--ref")
    same_shape(x, ref, "--ref", f"the reference {path!r}")
    x, ref = x.float(), ref.float()
    gen = torch.Generator().manual_seed(0)
    metrics = {
        "mmd": float(mmd(x, ref)),
        "sw": float(sliced_wasserstein(x, ref, n_projections=SW_PROJECTIONS, generator=gen)),
        "energy": float(energy_distance(x, ref)),
        "frechet_pixels": float(frechet_distance(x, ref)),
    }
    return Report(metrics, {"kind": "file", "path": path, "n": len(ref)}, len(x))


def _score_against_data(x: torch.Tensor, flag: str | None, recorded: Any) -> Report:
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
    split = reference_of(data)
    source = {"kind": "dataset", "dataset": split.dataset, "split": split.split, "n": split.n}
    floor = {**data_floor(data, len(x)), "n": floor_size(data, len(x))}
    return Report(score_samples(x, data), source, len(x), floor)

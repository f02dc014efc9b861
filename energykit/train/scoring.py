"""Score samples against a dataset's held-out split with the metrics that suit it (for
`energykit evaluate`, the study and the `Trainer`'s default evaluation), and the data floor:
real held-out data scored the same way."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor

from energykit.data import eight_gaussians_modes
from energykit.metrics import (
    ClassifierFeatures,
    energy_distance,
    fit_classifier,
    mmd,
    mode_stats,
    sliced_wasserstein,
)
from energykit.metrics.memorization import heldout_scale, nearest_distance
from energykit.train.config_checks import CUSTOM
from energykit.train.data import DataSource

#: Directions of the sliced Wasserstein distance in reports (seeded, so values are stable).
SW_PROJECTIONS = 128
#: A sample "escaped" when some pixel is beyond this magnitude (data lie in [-1, 1]).
ESCAPE = 2.0


@dataclass(frozen=True)
class MetricInfo:
    """What a metric of `score_samples` (or of `energykit evaluate`) is, in a few words.

    Attributes:
        what: A short description.
        better: Whether `"lower"` or `"higher"` values are better, or values `"near 1"`.
        against: What it is measured against when not the reference set (e.g. "the 8 mode
            centres"); `None` when it compares the samples with the reference set.
    """

    what: str
    better: Literal["lower", "higher", "near 1"]
    against: str | None = None


_SAMPLES_ONLY = "- (samples only)"
_MODES = "the 8 modes"

#: Every key `score_samples` and `energykit evaluate` report, explained (in table order).
METRICS: dict[str, MetricInfo] = {
    "fid_proxy": MetricInfo(
        "Frechet distance of small-classifier features (a proxy, not Inception FID)", "lower"
    ),
    "fid": MetricInfo("Frechet Inception distance", "lower"),
    "precision": MetricInfo("k-NN precision: share of samples near the reference", "higher"),
    "recall": MetricInfo("k-NN recall: share of the reference near the samples", "higher"),
    "class_entropy": MetricInfo(
        "spread over predicted classes (1 = all equally, 0 = one class)", "higher", _SAMPLES_ONLY
    ),
    "hit_rate": MetricInfo("share of samples within 0.5 of a mode", "higher", _MODES),
    "modes_covered": MetricInfo("modes with a sample within 0.5 (of 8)", "higher", _MODES),
    "sw": MetricInfo(f"sliced Wasserstein distance ({SW_PROJECTIONS} directions)", "lower"),
    "mmd": MetricInfo("squared maximum mean discrepancy, RBF kernels", "lower"),
    "energy": MetricInfo("energy distance", "lower"),
    "frechet_pixels": MetricInfo("Frechet distance of the raw values", "lower"),
    "memorization": MetricInfo(
        "median distance to the nearest train image, over the same for held-out images "
        "(well below 1: copying)",
        "near 1",
    ),
    "escaped": MetricInfo(
        f"share of samples with a value beyond +-{ESCAPE:g} before clipping (unstable sampler)",
        "lower",
        _SAMPLES_ONLY,
    ),
}


@dataclass(frozen=True)
class Reference:
    """The set `score_samples` compares samples with.

    Attributes:
        dataset: The dataset's name.
        split: `"train"` (images scored with a classifier) or `"test"` (held-out draw).
        n: Its number of samples.
    """

    dataset: str
    split: Literal["train", "test"]
    n: int


def reference_of(data: DataSource) -> Reference:
    """Which split of `data` `score_samples` compares samples with, and its size."""
    if _has_classifier(data) and data.x_train is not None:
        return Reference(data.name, "train", len(data.x_train))
    return Reference(data.name, "test", len(data.x_test))


def _has_classifier(data: DataSource) -> bool:
    """Whether `data` are labelled images of our own datasets (scored with a classifier)."""
    return data.name != CUSTOM and data.x_train is not None and data.y_train is not None


def classifier_for(data: DataSource) -> ClassifierFeatures | None:
    """The cached feature classifier of an image dataset (`None` for 2-D toys and for data of
    the user's own, whose labels need not name classes of images)."""
    if not _has_classifier(data) or data.x_train is None or data.y_train is None:
        return None
    return fit_classifier(
        data.x_train,
        data.y_train,
        x_test=data.x_test,
        y_test=data.y_test,
        num_classes=data.num_classes,
    )


def score_samples(x: Tensor, data: DataSource) -> dict[str, Any]:
    """Metrics of samples `x` `(n, *shape)`.

    Images, all against the **train** split (the larger one), after clipping pixels to
    $[-1, 1]$ as any image export does: `fid_proxy` (classifier-feature Frechet distance,
    see `energykit.metrics.classifier`; not Inception FID), `class_entropy`, `sw` (sliced
    Wasserstein) and `mmd` (RBF MMD$^2$, bandwidths 2, 4, 8); `escaped` is the fraction of
    samples that had some pixel beyond $\\pm 2$ before clipping (a sign of an unstable
    sampler); `memorization` is the median distance from a sample to its nearest training image
    over the same for the held-out images (`energykit.metrics.memorization_ratio`; about 1 for a
    model that does not copy, well below 1 for one that reproduces the train split). The floor
    is the test split scored the same way (`data_floor`). 2-D toys: `mmd`,
    `sw`, `energy` (energy distance) to the held-out draw, and for `8gaussians` `hit_rate`
    and `modes_covered`. `METRICS` says what each key is; `reference_of` which split was used.

    Args:
        x: Samples; non-finite samples raise `FloatingPointError` (no NaN metrics).
        data: The dataset the model was trained on.

    Raises:
        ValueError: `x` is not `(n, *data.shape)`.
        FloatingPointError: some samples are not finite.
    """
    if x.ndim < 1 or tuple(x.shape[1:]) != tuple(data.shape):
        raise ValueError(
            f"score_samples: samples of shape {tuple(x.shape[1:])} (of {tuple(x.shape)}) do not "
            f"match the {data.name!r} data, whose samples have shape {tuple(data.shape)}"
        )
    if not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x.reshape(len(x), -1))).any(dim=1).sum())
        raise FloatingPointError(f"score_samples: {bad} of {len(x)} samples are not finite")
    x = x.detach().cpu().float()
    gen = torch.Generator().manual_seed(0)
    out: dict[str, Any] = {}
    clf = classifier_for(data)
    if clf is not None and data.x_train is not None:
        # Like any image export, pixels are clipped to the data range [-1, 1] first; samples
        # that had run far outside it are counted, so an unstable sampler stays visible.
        out["escaped"] = float((x.reshape(len(x), -1).abs().amax(dim=1) > ESCAPE).double().mean())
        x = x.clamp(-1.0, 1.0)
        out["fid_proxy"] = clf.fid(x, data.x_train)
        out["class_entropy"] = clf.class_entropy(x)
        out["sw"] = float(
            sliced_wasserstein(x, data.x_train, n_projections=SW_PROJECTIONS, generator=gen)
        )
        out["mmd"] = float(mmd(x, data.x_train, bandwidths=(2.0, 4.0, 8.0)))
        near = float(nearest_distance(x, data.x_train).median())
        out["memorization"] = near / _heldout_scale(data.x_train, data.x_test)
        return out
    ref = data.x_test
    out["mmd"] = float(mmd(x, ref))
    out["sw"] = float(sliced_wasserstein(x, ref, n_projections=SW_PROJECTIONS, generator=gen))
    out["energy"] = float(energy_distance(x, ref))
    if data.name == "8gaussians":
        stats = mode_stats(x, eight_gaussians_modes(), radius=0.5)
        out["hit_rate"] = stats.hit_rate
        out["modes_covered"] = stats.modes_covered
    return out


#: `heldout_scale` per (train, held-out) pair, keyed by tensor identity (the tensors are kept,
#: so an id is not reused while its entry lives): a study scores dozens of sets per dataset.
_SCALES: dict[tuple[int, int], tuple[Tensor, Tensor, float]] = {}


def _heldout_scale(train: Tensor, heldout: Tensor) -> float:
    key = (id(train), id(heldout))
    if key not in _SCALES:
        _SCALES[key] = (train, heldout, heldout_scale(train, heldout))
    return _SCALES[key][2]


def data_floor(data: DataSource, n: int | None = None) -> dict[str, Any]:
    """The same metrics for real held-out data: the floor samples are measured against.

    Args:
        data: The dataset.
        n: Score at most this many held-out samples (a seeded subset; Frechet and MMD
            estimates depend on the sample count, so give the number of samples compared);
            `None` or more than the split holds: all of it (`floor_size` says how many).
    """
    size = floor_size(data, n)
    from energykit.data import DATASETS

    info = DATASETS.get(data.name)
    toy = info is not None and info.family == "toy"
    if not toy and data.x_train is None:
        raise ValueError(f"data_floor: no held-out floor is defined for {data.name!r} data")
    if data.x_train is None:
        from energykit.data import sample_toy

        fresh = sample_toy(data.name, size, generator=torch.Generator().manual_seed(7))
        return score_samples(fresh, data)
    held = data.x_test
    if size < len(held):
        held = held[torch.randperm(len(held), generator=torch.Generator().manual_seed(0))[:size]]
    return score_samples(held, data)


def floor_size(data: DataSource, n: int | None = None) -> int:
    """How many held-out samples `data_floor(data, n)` scores: `min(n, len(data.x_test))`.

    Raises:
        ValueError: `n` is not a positive integer (or `None`).
    """
    if n is None:
        return len(data.x_test)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"data_floor n: expected a positive sample count or None, got {n!r}")
    return min(n, len(data.x_test))

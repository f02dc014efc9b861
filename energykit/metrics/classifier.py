"""A classifier-feature FID proxy for small image datasets (digits, MNIST).

Inception FID needs a network trained on ImageNet and images far larger than 8x8 or 28x28.
For small data energykit trains a small classifier on the dataset's own train split
(deterministically, in seconds) and measures the Frechet distance between the classifier's
penultimate features of generated and held-out images. The numbers are comparable between
runs that use the same classifier (same data, split and seed), **not** with published FIDs.
"""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path

import torch
from torch import Tensor, nn

from energykit._checks import check_int, check_labels
from energykit._io import atomic_save, load_torch
from energykit.metrics._pairs import check_samples
from energykit.metrics.frechet import frechet_distance

#: Bump when the architecture or training changes, so stale cache files are not reused.
CLASSIFIER_VERSION = 1


class ClassifierFeatures(nn.Module):
    """MLP classifier `(B, *shape) -> (B, num_classes)` whose penultimate layer gives features.

    Args:
        dim: Input features, `prod(shape)`.
        num_classes: Number of classes.
        width: Hidden width; the feature layer has `width // 2` units.
    """

    def __init__(self, dim: int, num_classes: int, width: int = 256) -> None:
        super().__init__()
        self.dim, self.num_classes = dim, num_classes
        self.body = nn.Sequential(
            nn.Linear(dim, width), nn.ReLU(), nn.Linear(width, width // 2), nn.ReLU()
        )
        self.head = nn.Linear(width // 2, num_classes)
        self.test_accuracy = float("nan")

    def features(self, x: Tensor) -> Tensor:
        """Penultimate activations `(B, width // 2)`."""
        return self.body(x.reshape(x.shape[0], -1).float())

    def forward(self, x: Tensor) -> Tensor:
        """Class logits `(B, num_classes)`."""
        return self.head(self.features(x))

    @torch.no_grad()
    def predict(self, x: Tensor) -> Tensor:
        """Predicted classes `(B,)`."""
        return self.forward(x).argmax(dim=1)

    @torch.no_grad()
    def fid(self, samples: Tensor, reference: Tensor) -> float:
        """Frechet distance between the features of `samples` and `reference`."""
        return float(frechet_distance(samples, reference, features=self.features))

    @torch.no_grad()
    def class_entropy(self, samples: Tensor) -> float:
        """Normalised entropy of the predicted-class histogram, in [0, 1]: 1 means the
        samples spread evenly over all classes, 0 means a single class (collapse).

        Raises:
            ValueError: no samples, or NaN/inf samples (their argmax would be arbitrary).
        """
        check_samples("class_entropy", "samples", samples)
        counts = torch.bincount(self.predict(samples), minlength=self.num_classes).double()
        p = counts / counts.sum()
        h = -(p[p > 0] * p[p > 0].log()).sum()
        return float(h / math.log(self.num_classes))


def _cache_dir() -> Path:
    root = os.environ.get("ENERGYKIT_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "energykit"
    )
    return Path(root) / "classifiers"


def _key(x: Tensor, y: Tensor, seed: int, steps: int) -> str:
    h = hashlib.sha256()
    h.update(x.detach().cpu().float().contiguous().numpy().tobytes())
    h.update(y.detach().cpu().long().contiguous().numpy().tobytes())
    h.update(f"{CLASSIFIER_VERSION}-{seed}-{steps}-{tuple(x.shape)}".encode())
    return h.hexdigest()[:20]


_MEMO: dict[str, ClassifierFeatures] = {}


def fit_classifier(
    x_train: Tensor,
    y_train: Tensor,
    *,
    x_test: Tensor | None = None,
    y_test: Tensor | None = None,
    num_classes: int | None = None,
    seed: int = 0,
    steps: int = 2000,
    cache: bool = True,
) -> ClassifierFeatures:
    """Train (or load from cache) the feature classifier on `x_train` `(N, *shape)`.

    Training is deterministic on CPU: Adam (lr 1e-3), batch 128, `steps` steps drawn by a
    generator seeded with `seed`, light Gaussian input noise (std 0.1) so the features are not
    thrown by slightly noisy samples. Results are memoised in-process and cached on disk
    under `$ENERGYKIT_CACHE/classifiers` (default `~/.cache/energykit`), keyed by a hash of
    the data, seed and steps.

    Args:
        x_train: Training images `(N, *shape)` in $[-1, 1]$.
        y_train: Labels `(N,)`.
        x_test: Optional held-out images; their accuracy is stored in `.test_accuracy`.
        y_test: Held-out labels.
        num_classes: Default `max(y_train) + 1`.
        seed: Seed of the initialisation and batches.
        steps: Optimiser steps.
        cache: Use the in-process memo and the disk cache.
    """
    steps = check_int("steps", steps, minimum=1)
    if x_train.shape[0] != y_train.shape[0]:
        raise ValueError(
            f"fit_classifier: x_train has {x_train.shape[0]} rows, y_train {y_train.shape[0]}"
        )
    check_samples("fit_classifier", "x_train", x_train)
    y_train = check_labels("y_train", y_train)
    if num_classes is not None:
        num_classes = check_int("num_classes", num_classes, minimum=1)
    k = int(y_train.max()) + 1 if num_classes is None else num_classes
    check_labels("y_train", y_train, k, sync=True)
    key = _key(x_train, y_train, seed, steps)
    if cache and key in _MEMO:
        return _MEMO[key]
    model = ClassifierFeatures(math.prod(x_train.shape[1:]), k)
    path = _cache_dir() / f"{key}.pt"
    if cache and path.is_file():
        state = load_torch(path, what="classifier cache")
        model.load_state_dict(state["model"])
        model.test_accuracy = float(state["test_accuracy"])
    else:
        _train(model, x_train.cpu(), y_train.cpu(), seed, steps)
        if x_test is not None and y_test is not None:
            acc = (model.predict(x_test.cpu()) == y_test.cpu()).double().mean()
            model.test_accuracy = float(acc)
        if cache:
            atomic_save({"model": model.state_dict(), "test_accuracy": model.test_accuracy}, path)
    model.eval().requires_grad_(False)
    if cache:
        _MEMO[key] = model
    return model


def _train(model: ClassifierFeatures, x: Tensor, y: Tensor, seed: int, steps: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for m in model.modules():
            if isinstance(m, nn.Linear):
                m.reset_parameters()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for _ in range(steps):
        idx = torch.randint(len(x), (128,), generator=gen)
        xb = x[idx] + 0.1 * torch.randn(x[idx].shape, generator=gen)
        loss = nn.functional.cross_entropy(model(xb), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

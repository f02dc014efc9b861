"""Sample-quality metrics: MMD, sliced Wasserstein, energy distance, Frechet distance, the
classifier-feature FID proxy for small image datasets, mode statistics for 2-D toys, a
nearest-neighbour memorisation check, and out-of-distribution detection metrics."""

from energykit.metrics.classifier import ClassifierFeatures, fit_classifier
from energykit.metrics.distances import energy_distance, sliced_wasserstein
from energykit.metrics.frechet import frechet_distance, frechet_from_stats, gaussian_stats
from energykit.metrics.memorization import heldout_scale, memorization_ratio, nearest_distance
from energykit.metrics.mmd import mmd
from energykit.metrics.modes import ModeStats, mode_stats
from energykit.metrics.ood import aupr, auroc, fpr_at_tpr

__all__ = [
    "ClassifierFeatures",
    "ModeStats",
    "aupr",
    "auroc",
    "energy_distance",
    "fit_classifier",
    "fpr_at_tpr",
    "frechet_distance",
    "frechet_from_stats",
    "gaussian_stats",
    "heldout_scale",
    "memorization_ratio",
    "mmd",
    "mode_stats",
    "nearest_distance",
    "sliced_wasserstein",
]

"""Data: seeded 2-D toy distributions (image loaders arrive with the training stack)."""

from energykit.data.toy2d import TOY_DISTRIBUTIONS, eight_gaussians_modes, sample_toy

__all__ = ["TOY_DISTRIBUTIONS", "eight_gaussians_modes", "sample_toy"]

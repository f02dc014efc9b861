"""Sample-quality metrics (more arrive with the training stack)."""

from energykit.metrics.mmd import mmd
from energykit.metrics.modes import ModeStats, mode_stats

__all__ = ["ModeStats", "mmd", "mode_stats"]

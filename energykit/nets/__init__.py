"""Backbones: networks mapping samples (plus optional time and class) to samples."""

from energykit.nets.embeddings import sinusoidal_embedding
from energykit.nets.mlp import MLP

__all__ = ["MLP", "sinusoidal_embedding"]

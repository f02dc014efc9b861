"""Backbones: networks mapping samples (plus optional time and class) to samples."""

from energykit.nets.dit import DiT
from energykit.nets.embeddings import sinusoidal_embedding
from energykit.nets.mlp import MLP
from energykit.nets.unet import UNet

__all__ = ["MLP", "DiT", "UNet", "sinusoidal_embedding"]

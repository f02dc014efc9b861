"""Compatibility: sampling to files moved to `energykit.sampling`."""

from energykit.sampling.files import (
    BATCH_SEED_STRIDE,
    load_samples,
    sample_to_file,
    save_samples,
    to_uint8_images,
    write_pngs,
)

__all__ = [
    "BATCH_SEED_STRIDE",
    "load_samples",
    "sample_to_file",
    "save_samples",
    "to_uint8_images",
    "write_pngs",
]

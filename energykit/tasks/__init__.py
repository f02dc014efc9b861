"""What a time-free energy landscape can do besides sampling from noise: denoise inputs of
unknown noise level, score out-of-distribution inputs, and fill in missing entries.
Composition needs no task code: fields add (`model.bind(y=a) + model.bind(y=b)`)."""

from energykit.tasks.denoise import denoise, noise
from energykit.tasks.inpaint import inpaint
from energykit.tasks.ood import OOD_METHODS, ood_scores

__all__ = ["OOD_METHODS", "denoise", "inpaint", "noise", "ood_scores"]

"""`SampleGrid`: every `train.sample_every` steps, a fixed-seed grid of samples from the EMA
model with the recipe's sampler, written to `OUT/samples/step_NNNNNNN.png` and sent to the
trackers. It runs between steps, so the steps in between get no host sync.

Images are tiled into one PNG (`energykit._png`, no imaging package needed); 2-D data is
drawn as a scatter plot when matplotlib is installed (else one line says so, once); cached
latents are not drawn (decoding needs the VAE, which training does not load; one line says
so, once: decode samples with `energykit sample --vae`).
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from energykit._png import grid_pixels, image_grid, write_png
from energykit.sampling import SampleConfig
from energykit.track.tracking import Tracking
from energykit.train.callbacks import Callback
from energykit.train.trained import TrainedModel

#: Samples in a grid (an 8 x 8 tile for images).
GRID_SAMPLES = 64


@dataclass
class SampleGrid(Callback):
    """Sample grids while training.

    Attributes:
        sample: The recipe's sampler settings (its `seed` fixes the grid's noise; a
            calibrated `solver` is left out, as in evaluation during training).
        images: Whether a sample is an image `(C, H, W)` (else 2-D points or latents).
        latents: Whether the samples are VAE latents (not drawn).
        device: Where to sample.
        tracking: The run's trackers, to send each grid to (or `None`).
        n: Samples per grid.
    """

    sample: SampleConfig
    images: bool
    latents: bool
    device: torch.device
    tracking: Tracking | None = None
    n: int = GRID_SAMPLES
    _said: bool = field(default=False, init=False, repr=False)

    def on_samples(self, step: int, model: TrainedModel, out: Path | None) -> None:
        if out is None or self._skipped():
            return
        from energykit.sampling import generate

        cfg = dataclasses.replace(self.sample, solver=None, n=self.n, batch=self.n)
        x = generate(
            model.sampleable(),
            model.shape,
            cfg,
            landscape=model.landscape,
            num_classes=model.num_classes,
            device=self.device,
        ).x
        path = out / "samples" / f"step_{step:07d}.png"
        pixels = self._draw(x, path)
        if pixels is not None and self.tracking is not None:
            self.tracking.image(step, "samples", pixels)

    def _skipped(self) -> bool:
        """Latents, or points without matplotlib: say so once, draw nothing."""
        if self.images and not self.latents:
            return False
        if self.latents:
            why = "sample grids of VAE latents are not drawn while training (decoding needs "
            why += "the VAE); decode samples with `energykit sample --vae`"
        else:
            try:
                import matplotlib  # noqa: F401
            except ImportError:
                why = "sample grids of 2-D data need matplotlib (pip install -e '.[plot]'); "
                why += "none drawn"
            else:
                return False
        if not self._said:
            print(f"train.sample_every: {why}", file=sys.stderr)
            self._said = True
        return True

    def _draw(self, x: torch.Tensor, path: Path) -> np.ndarray | None:
        """Write the grid PNG; returns its pixels `(H, W, C)` uint8."""
        if self.images:
            pixels = grid_pixels(image_grid(x).numpy())
            write_png(path, pixels)
            return pixels
        import matplotlib.image as mpimg
        from matplotlib.figure import Figure  # no pyplot: no backend, no global state

        fig = Figure(figsize=(4, 4), dpi=80)
        ax = fig.add_subplot()
        points = x.detach().cpu().float().numpy()
        ax.scatter(points[:, 0], points[:, 1], s=4, alpha=0.6)
        ax.set_title(path.stem)
        ax.set_aspect("equal")
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)

        return grid_pixels(np.asarray(mpimg.imread(path))[..., :3])


__all__ = ["GRID_SAMPLES", "SampleGrid"]

"""The callbacks of a run: the evaluation (the user's list, or the default `SampleEvaluation`
when `train.eval_every > 0`), then the trackers `train.track` names and the sample grids of
`train.sample_every`, which come from the config and so run with a user's list too."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from energykit.track.tracking import Tracking
from energykit.train.callbacks import SampleEvaluation
from energykit.train.config import TrainConfig
from energykit.train.data import DataSource
from energykit.train.grid import SampleGrid


def callbacks_for(
    config: TrainConfig,
    data: DataSource,
    device: torch.device,
    given: Sequence[object] | None,
) -> list[object]:
    """The callbacks a `Trainer` runs, in order (`given` replaces only the default evaluation)."""
    t = config.train
    if given is None:
        given = [SampleEvaluation.for_run(config, data, device)] if t.eval_every > 0 else []
    out = list(given)
    tracking = Tracking(t.track, config.to_dict())
    if tracking.names:
        out.append(tracking)
    if t.sample_every > 0:
        images, latents = len(data.shape) == 3, config.data.name == "latents"
        tracked = tracking if tracking.names else None
        out.append(SampleGrid(config.sample, images, latents, device, tracked))
    return out


__all__ = ["callbacks_for"]

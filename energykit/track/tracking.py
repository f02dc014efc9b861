"""`Tracking`: the callback that sends a run's logged numbers, evaluation scores and sample
grids to the trackers `train.track` names, on rank 0, between steps.

The run folder keeps `log.jsonl` as the record; the trackers get copies. `OUT/trackers.json`
stores each tracker's run id and the last step it holds of each kind (`metrics`, `eval`,
`images`), so a resume (exact: the same numbers come again) continues the same tracker runs
and never writes a point twice: TensorBoard drops its events after the resumed step
(`purge_step`) and gets them again; MLflow reads what it holds from its store; W&B, whose
offline runs cannot be read back, skips the steps `trackers.json` says it has.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from energykit._config import ConfigError
from energykit._io import atomic_write
from energykit.track.backends import MLflowTracker, TensorBoardTracker, Tracker, WandbTracker
from energykit.track.names import parse_track

#: The file in the run folder with the trackers' run ids and the steps they hold.
STATE_FILE = "trackers.json"


def open_tracker(
    name: str, out: Path, config: Mapping[str, Any], step: int, run_id: str | None
) -> Tracker:
    """The tracker `name` for the run in `out`, continuing `run_id` when given."""
    if name == "tensorboard":
        return TensorBoardTracker(out, config, step)
    if name == "mlflow":
        return MLflowTracker(out, config, step, run_id)
    if name == "wandb":
        return WandbTracker(out, config, step, run_id)
    raise ConfigError(f"train.track: unknown tracker {name!r}")


class Tracking:
    """Send numbers and images to the trackers `track` names (a `train.track` value).

    Args:
        track: Comma-separated tracker names, or `none`.
        config: The run's config as a dict (logged once per tracker run).
    """

    all_ranks = False

    def __init__(self, track: str, config: Mapping[str, Any]) -> None:
        self.names = parse_track(track)
        self.config = dict(config)
        self.trackers: dict[str, Tracker] = {}
        self.state: dict[str, dict[str, Any]] = {}
        self.out: Path | None = None

    def on_start(self, step: int, out: Path | None) -> None:
        """Open (or reopen, on a resume) every tracker's run."""
        if self.trackers or not self.names:
            return
        if out is None:
            raise ConfigError(
                f"train.track: {','.join(self.names)} needs a run folder (Trainer(out=...) "
                "or --out); set train.track=none to train in memory"
            )
        self.out = out
        path = out / STATE_FILE
        self.state = json.loads(path.read_text()) if path.is_file() else {}
        for name in self.names:
            held = self.state.setdefault(name, {"run_id": None, "held": {}})
            tracker = open_tracker(name, out, self.config, step, held["run_id"])
            held["run_id"] = tracker.run_id
            if name == "tensorboard":  # purged after `step` and written again
                held["held"] = {k: min(v, step) for k, v in held["held"].items()}
            self.trackers[name] = tracker
        self._save()

    def on_log(self, step: int, metrics: dict[str, float], out: Path | None) -> None:
        self._send("metrics", step, {k: v for k, v in metrics.items() if k != "elapsed_s"})

    def on_scores(self, step: int, scores: dict[str, Any], out: Path | None) -> None:
        self._send("eval", step, {f"eval/{k}": v for k, v in scores.items()})

    def image(self, step: int, key: str, image: np.ndarray) -> None:
        """Send a `(H, W, C)` uint8 image (a sample grid) to every tracker."""
        for _, tracker in self._fresh("images", step):
            tracker.log_image(step, key, image)
        self._save()

    def on_end(self, step: int, history: list[dict[str, Any]], out: Path | None) -> None:
        for tracker in self.trackers.values():
            tracker.close()
        self.trackers = {}

    def _send(self, kind: str, step: int, values: Mapping[str, Any]) -> None:
        numbers = {
            k: float(v)
            for k, v in values.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        }
        if not numbers:
            return
        for _, tracker in self._fresh(kind, step):
            tracker.log_metrics(step, numbers)
        self._save()

    def _fresh(self, kind: str, step: int) -> list[tuple[str, Tracker]]:
        """The trackers that do not hold `kind` at `step` yet (marked as holding it now)."""
        fresh = []
        for name, tracker in self.trackers.items():
            held = self.state[name]["held"]
            if step > held.get(kind, -1):
                held[kind] = step
                fresh.append((name, tracker))
        return fresh

    def _save(self) -> None:
        if self.out is not None:
            text = json.dumps(self.state, indent=2).encode()
            atomic_write(self.out / STATE_FILE, lambda f: f.write(text))


__all__ = ["STATE_FILE", "Tracking", "open_tracker"]

"""The built-in trackers: TensorBoard (`torch.utils.tensorboard`), MLflow and Weights & Biases,
each behind the same four calls, each imported only when a run names it.

A `Tracker` takes numbers and images at training steps. Continuing a run (a resume) opens the
same tracker run again: TensorBoard through `purge_step` (its events after the resumed step
are dropped and written again), MLflow and W&B through the run id that the first run stored
(`energykit.track.tracking` skips the steps they already hold).
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np


class Tracker(Protocol):
    """What a tracker does for a training run."""

    @property
    def run_id(self) -> str | None:
        """The run id to store for a resume (`None` when the tracker needs none)."""

    def log_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        """Numbers at `step` (names such as `loss`, `eval/fid_proxy`)."""

    def log_image(self, step: int, key: str, image: np.ndarray) -> None:
        """An image `(H, W, C)` uint8 at `step`."""

    def close(self) -> None:
        """Flush and end this session of the run."""


def _missing(name: str, package: str) -> ImportError:
    return ImportError(
        f"train.track: {name!r} needs the {package} package; install it with "
        f"`pip install -e '.[{name}]'` in your energykit checkout, or drop it from train.track"
    )


class TensorBoardTracker:
    """Event files in `OUT/tensorboard`; a resume at step `s` purges events after `s`."""

    run_id: str | None = None

    def __init__(self, out: Path, config: Mapping[str, Any], start_step: int) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise _missing("tensorboard", "tensorboard") from None
        purge = start_step + 1 if start_step > 0 else None
        self.writer = SummaryWriter(log_dir=str(out / "tensorboard"), purge_step=purge)
        text = json.dumps(dict(config), indent=2)
        self.writer.add_text("config", f"```\n{text}\n```", global_step=start_step)

    def log_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        for key, value in metrics.items():
            self.writer.add_scalar(key, value, global_step=step)
        self.writer.flush()

    def log_image(self, step: int, key: str, image: np.ndarray) -> None:
        self.writer.add_image(key, image, global_step=step, dataformats="HWC")
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class MLflowTracker:
    """A run in `MLFLOW_TRACKING_URI`, else in a SQLite store `OUT/mlflow.db` (artifacts in
    `OUT/mlartifacts`); experiment `MLFLOW_EXPERIMENT_NAME`, else `energykit`. The config is
    the params (at creation) and the artifact `config.json`."""

    def __init__(
        self, out: Path, config: Mapping[str, Any], start_step: int, run_id: str | None
    ) -> None:
        try:
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise _missing("mlflow", "mlflow") from None
        uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(out / 'mlflow.db').resolve()}"
        self.client = MlflowClient(tracking_uri=uri)
        name = os.environ.get("MLFLOW_EXPERIMENT_NAME", "energykit")
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            experiment = found.experiment_id
        else:
            where = None if "MLFLOW_TRACKING_URI" in os.environ else (out / "mlartifacts")
            location = None if where is None else where.resolve().as_uri()
            experiment = self.client.create_experiment(name, artifact_location=location)
        if run_id is None:
            run_id = self.client.create_run(experiment, run_name=out.name).info.run_id
            for key, value in _flat(config).items():
                self.client.log_param(run_id, key, str(value)[:500])
        else:
            self.client.update_run(run_id, status="RUNNING")
        self.run_id = run_id
        self.client.log_dict(run_id, dict(config), "config.json")
        #: The last step holding each metric already (a resume never logs a point twice).
        self.held = {
            key: max((m.step for m in self.client.get_metric_history(run_id, key)), default=-1)
            for key in self.client.get_run(run_id).data.metrics
        }

    def log_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        from mlflow.entities import Metric

        stamp = _now_ms()
        new = [
            Metric(key, float(value), stamp, step)
            for key, value in metrics.items()
            if step > self.held.get(key, -1)
        ]
        if new:
            self.client.log_batch(self.run_id, metrics=new)
            self.held.update({m.key: step for m in new})

    def log_image(self, step: int, key: str, image: np.ndarray) -> None:
        self.client.log_image(self.run_id, image, artifact_file=f"{key}/step_{step:07d}.png")

    def close(self) -> None:
        self.client.set_terminated(self.run_id)


class WandbTracker:
    """A W&B run in `OUT/wandb`, project `WANDB_PROJECT` (else `energykit`); `WANDB_MODE`
    (`offline`, `disabled`, ...) is honoured as W&B reads it. A resume continues the run id
    the first run stored (`resume="allow"`)."""

    def __init__(
        self, out: Path, config: Mapping[str, Any], start_step: int, run_id: str | None
    ) -> None:
        try:
            import wandb
        except ImportError:
            raise _missing("wandb", "wandb") from None
        self.wandb = wandb
        run_id = run_id or secrets.token_hex(4)  # W&B ids: lower-case letters and digits
        self.run = wandb.init(
            project=os.environ.get("WANDB_PROJECT", "energykit"),
            dir=str(out),
            id=run_id,
            name=out.name,
            resume="allow",
            config=dict(config),
        )
        self.run_id = run_id

    def log_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        self.run.log(dict(metrics), step=step)

    def log_image(self, step: int, key: str, image: np.ndarray) -> None:
        self.run.log({key: self.wandb.Image(image)}, step=step)

    def close(self) -> None:
        self.run.finish()


def _flat(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"train": {"steps": 1}}` as `{"train.steps": 1}`."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, Mapping):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)


__all__ = ["MLflowTracker", "TensorBoardTracker", "Tracker", "WandbTracker"]

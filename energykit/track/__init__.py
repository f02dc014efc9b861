"""Experiment trackers for training runs: TensorBoard, MLflow and Weights & Biases, chosen by
`train.track` and fed by the `Tracking` callback (`energykit.track.tracking`)."""

from energykit.track.backends import MLflowTracker, TensorBoardTracker, Tracker, WandbTracker
from energykit.track.names import TRACKER_NAMES, parse_track
from energykit.track.tracking import STATE_FILE, Tracking, open_tracker

__all__ = [
    "STATE_FILE",
    "TRACKER_NAMES",
    "MLflowTracker",
    "TensorBoardTracker",
    "Tracker",
    "Tracking",
    "WandbTracker",
    "open_tracker",
    "parse_track",
]

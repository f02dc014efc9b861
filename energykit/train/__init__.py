"""Training: typed configs, the `Trainer` (EMA, atomic checksummed checkpoints, exact resume,
callbacks, clean stops), and the trained model (`load_trained` -> `TrainedModel.field()` /
`.velocity()`). Sampling lives in `energykit.sampling`."""

from energykit.train.build import build_net, build_objective
from energykit.train.callbacks import Callback, SampleEvaluation
from energykit.train.checkpoint import (
    CHECKPOINT_FORMAT,
    CorruptCheckpointError,
    load_checkpoint,
    save_checkpoint,
)
from energykit.train.config import (
    ConfigError,
    DataConfig,
    LoopConfig,
    NetConfig,
    ObjectiveConfig,
    OptimConfig,
    TrainConfig,
    apply_overrides,
    load_config,
)
from energykit.train.data import DataSource, build_data
from energykit.train.ema import EMA
from energykit.train.guard import NonFiniteError
from energykit.train.stop import TrainingStoppedError
from energykit.train.trained import TrainedModel, load_trained
from energykit.train.trainer import Trainer

__all__ = [
    "CHECKPOINT_FORMAT",
    "EMA",
    "Callback",
    "ConfigError",
    "CorruptCheckpointError",
    "DataConfig",
    "DataSource",
    "LoopConfig",
    "NetConfig",
    "NonFiniteError",
    "ObjectiveConfig",
    "OptimConfig",
    "SampleEvaluation",
    "TrainConfig",
    "TrainedModel",
    "Trainer",
    "TrainingStoppedError",
    "apply_overrides",
    "build_data",
    "build_net",
    "build_objective",
    "load_checkpoint",
    "load_config",
    "load_trained",
    "save_checkpoint",
]

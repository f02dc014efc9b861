"""Training: typed configs, the `Trainer` (EMA, atomic checkpoints, exact resume), sampling."""

from energykit.train.build import DataSource, build_data, build_net, build_objective, wrap_field
from energykit.train.checkpoint import CorruptCheckpointError, load_checkpoint, save_checkpoint
from energykit.train.config import (
    ConfigError,
    DataConfig,
    LoopConfig,
    NetConfig,
    ObjectiveConfig,
    OptimConfig,
    SampleConfig,
    TrainConfig,
    apply_overrides,
    load_config,
)
from energykit.train.ema import EMA
from energykit.train.generate import Samples, default_lr, generate
from energykit.train.guard import NonFiniteError, NonFiniteLossError
from energykit.train.trainer import TrainedModel, Trainer, load_trained

__all__ = [
    "EMA",
    "ConfigError",
    "CorruptCheckpointError",
    "DataConfig",
    "DataSource",
    "LoopConfig",
    "NetConfig",
    "NonFiniteError",
    "NonFiniteLossError",
    "ObjectiveConfig",
    "OptimConfig",
    "SampleConfig",
    "Samples",
    "TrainConfig",
    "TrainedModel",
    "Trainer",
    "apply_overrides",
    "build_data",
    "build_net",
    "build_objective",
    "default_lr",
    "generate",
    "load_checkpoint",
    "load_config",
    "load_trained",
    "save_checkpoint",
    "wrap_field",
]

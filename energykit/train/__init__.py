"""Training: typed configs, the `Trainer` (EMA, atomic checkpoints, exact resume), and the
trained model (`load_trained` -> `TrainedModel.field()` / `.velocity()`).

Sampling lives in `energykit.sampling`; `generate`, `Samples`, `SampleConfig` and
`default_lr` are re-exported here for compatibility.
"""

from energykit.sampling import SampleConfig, Samples, default_lr
from energykit.train.build import DataSource, build_data, build_net, build_objective, wrap_field
from energykit.train.checkpoint import (
    CHECKPOINT_FORMAT,
    CorruptCheckpointError,
    TrainedModel,
    load_checkpoint,
    load_trained,
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
from energykit.train.ema import EMA
from energykit.train.generate import generate
from energykit.train.guard import NonFiniteError, NonFiniteLossError
from energykit.train.trainer import Trainer

__all__ = [
    "CHECKPOINT_FORMAT",
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

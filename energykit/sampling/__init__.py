"""Sampling: samples from an `EnergyField` (descent) or a `flows.Velocity` (ODE) with a
`SampleConfig`, and sharded sampling to files under `torchrun`.

```python
model = energykit.train.load_trained("runs/digits-eqm/last.pt")
s = generate(model.field(), model.shape, model.config.sample, n=64, landscape=model.landscape)
```
"""

from energykit.descent.defaults import DEFAULT_STEP_BUDGET, default_lr
from energykit.descent.fewstep import Landscape
from energykit.descent.solver import Solver, SolverFileError
from energykit.flows import Velocity
from energykit.sampling.config import SampleConfig
from energykit.sampling.files import (
    load_samples,
    sample_to_file,
    save_samples,
    to_uint8_images,
    write_pngs,
)
from energykit.sampling.generate import Sampleable, Samples, generate
from energykit.sampling.samplers import ODE_METHODS, check_sampler, is_ode_method, sampler_names
from energykit.sampling.source import BATCH_SEED_STRIDE, SampleSource, solver_for

__all__ = [
    "BATCH_SEED_STRIDE",
    "DEFAULT_STEP_BUDGET",
    "ODE_METHODS",
    "Landscape",
    "SampleConfig",
    "SampleSource",
    "Sampleable",
    "Samples",
    "Solver",
    "SolverFileError",
    "Velocity",
    "check_sampler",
    "default_lr",
    "generate",
    "is_ode_method",
    "load_samples",
    "sample_to_file",
    "sampler_names",
    "save_samples",
    "solver_for",
    "to_uint8_images",
    "write_pngs",
]

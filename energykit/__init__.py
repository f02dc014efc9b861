"""energykit: energy-based generative modelling with Equilibrium Matching, in PyTorch.

```python
import energykit as ek
field = ek.ImplicitField(net_a) + 0.5 * ek.ImplicitField(net_b)
samples = ek.Descender(field, "nag", lr=0.0017, momentum=0.3, g_min=1e-2).run(x0).x
```
"""

from energykit import (
    data,
    descent,
    fields,
    flows,
    interop,
    metrics,
    nets,
    objectives,
    sampling,
    tasks,
    train,
    viz,
)
from energykit.descent import NAGGD, Descender, DescentResult, Multistep, Solver
from energykit.fields import (
    DotEnergy,
    EnergyField,
    Guided,
    ImplicitField,
    L2Energy,
    NoEnergyError,
)
from energykit.objectives import EqMLoss, FlowMatchingLoss

__version__ = "0.1.0"

__all__ = [
    "NAGGD",
    "Descender",
    "DescentResult",
    "DotEnergy",
    "EnergyField",
    "EqMLoss",
    "FlowMatchingLoss",
    "Guided",
    "ImplicitField",
    "L2Energy",
    "Multistep",
    "NoEnergyError",
    "Solver",
    "__version__",
    "data",
    "descent",
    "fields",
    "flows",
    "interop",
    "metrics",
    "nets",
    "objectives",
    "sampling",
    "tasks",
    "train",
    "viz",
]

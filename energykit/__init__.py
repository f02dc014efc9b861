"""energykit: energy-based generative modelling with Equilibrium Matching, in PyTorch.

```python
import energykit as ek
field = ek.ImplicitField(net_a) + 0.5 * ek.ImplicitField(net_b)
samples = ek.Descender(field, "nag", lr=0.0017, momentum=0.3, g_min=1e-2).run(x0).x
```
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: The subpackages, loaded on first use (PEP 562): `import energykit` alone imports no torch,
#: so the `energykit` command answers `--help` at once.
_SUBPACKAGES = (
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
)

#: The curated top-level names and the subpackage each comes from.
_NAMES = {
    "NAGGD": "descent",
    "Descender": "descent",
    "DescentResult": "descent",
    "Multistep": "descent",
    "Solver": "descent",
    "DotEnergy": "fields",
    "EnergyField": "fields",
    "Guided": "fields",
    "ImplicitField": "fields",
    "L2Energy": "fields",
    "NoEnergyError": "fields",
    "EqMLoss": "objectives",
    "FlowMatchingLoss": "objectives",
}

if TYPE_CHECKING:
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


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        value = importlib.import_module(f"energykit.{name}")
    elif name in _NAMES:
        value = getattr(importlib.import_module(f"energykit.{_NAMES[name]}"), name)
    else:
        raise AttributeError(f"module 'energykit' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


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

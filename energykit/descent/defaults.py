"""The paper's sampler defaults, defined once: the step budget, NAG-GD's step and look-ahead
(`DescentSettings` builds the descender from them).

The best EqM-XL/2 sampler of the paper (Section 5, FID 1.90) is NAG-GD with step
$\\eta = 0.0017$ and look-ahead $\\mu = 0.3$ for $K = 250$ steps. energykit keeps the path
length $\\eta K = 0.425$ fixed when the budget changes, so the default step is
$\\eta = 0.425 / K$: 0.0017 at 250 steps, 0.0085 at 50.
"""

from __future__ import annotations

from energykit.descent.budget import DEFAULT_STEP_BUDGET, PAPER_STEPS, default_lr

# Step size and look-ahead of the paper's best EqM-XL/2 sampler (Section 5, FID 1.90), defined
# with `NAGGD` (its defaults) and re-exported here beside the step budget.
from energykit.descent.nag import PAPER_LR, PAPER_MOMENTUM

__all__ = [
    "DEFAULT_STEP_BUDGET",
    "PAPER_LR",
    "PAPER_MOMENTUM",
    "PAPER_STEPS",
    "default_lr",
]

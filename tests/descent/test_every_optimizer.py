"""Every name `available_optimizers()` lists samples: three steps on a quadratic bowl move the
samples downhill and stay finite; the names left out are refused with their reason."""

from __future__ import annotations

import pytest
import torch

import energykit as ek
from energykit.descent.resolve import UNSUITABLE, available_optimizers
from energykit.fields import Quadratic


@pytest.mark.parametrize("name", available_optimizers())
def test_every_listed_optimizer_samples(name):
    field = Quadratic(torch.eye(2, dtype=torch.float64))
    x0 = torch.full((4, 2), 2.0, dtype=torch.float64)
    result = ek.Descender(field, name, lr=0.01, steps=3).run(x0)
    assert torch.isfinite(result.x).all()
    energy = field.energy(result.x)
    assert (energy <= field.energy(x0)).all(), name  # downhill (or still) from x0 = (2, 2)
    assert int(result.nfe_total) >= 3 * len(x0)


@pytest.mark.parametrize("name", sorted(UNSUITABLE))
def test_unsuitable_names_are_refused_with_the_reason(name):
    assert name not in available_optimizers()
    with pytest.raises(ValueError, match=f"optimizer: '{name}' cannot sample: "):
        ek.Descender(Quadratic(torch.eye(2)), name)

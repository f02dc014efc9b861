"""Energy fields: the landscape abstraction, neural heads, compositions and closed forms."""

from energykit.fields.analytic import Gaussian, GaussianMixture, Quadratic
from energykit.fields.base import EnergyField, NoEnergyError
from energykit.fields.composite import Bound, WeightedSum
from energykit.fields.guidance import Guided
from energykit.fields.neural import DotEnergy, ImplicitField, L2Energy

__all__ = [
    "Bound",
    "DotEnergy",
    "EnergyField",
    "Gaussian",
    "GaussianMixture",
    "Guided",
    "ImplicitField",
    "L2Energy",
    "NoEnergyError",
    "Quadratic",
    "WeightedSum",
]

"""Energy fields: the landscape abstraction, neural heads, compositions and closed forms."""

from energykit.fields.analytic import Gaussian, GaussianMixture, Quadratic
from energykit.fields.base import EnergyField, NoEnergyError
from energykit.fields.composite import Bound, WeightedSum
from energykit.fields.guidance import Guided
from energykit.fields.neural import DotEnergy, ImplicitField, L2Energy
from energykit.fields.precision import LowPrecision, compile_networks

__all__ = [
    "Bound",
    "DotEnergy",
    "EnergyField",
    "Gaussian",
    "GaussianMixture",
    "Guided",
    "ImplicitField",
    "L2Energy",
    "LowPrecision",
    "NoEnergyError",
    "Quadratic",
    "WeightedSum",
    "compile_networks",
]

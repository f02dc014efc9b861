"""The objective kinds, written once: what each trains (loss), how its net is read (head),
whether it is sampled by descent or by an ODE, and whether its net takes the time.

| kind | loss | head | flow matching | time-conditional |
|---|---|---|---|---|
| `eqm` | `EqMLoss(schedule, coupling)` | `ImplicitField` | no | no |
| `eqm-dot` | `EqMLoss(schedule, coupling)` | `DotEnergy` | no | no |
| `eqm-l2` | `EqMLoss(schedule, coupling)` | `L2Energy` | no | no |
| `fm` | `FlowMatchingLoss(True, coupling)` | none (a velocity) | yes | yes |
| `fm-uncond` | `FlowMatchingLoss(False, coupling)` | none (a velocity) | yes | no |

Everything else asks this table (`objective_kind(name)`) or, for "explicit energy head",
`field.has_energy`; nothing compares kind strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from torch import nn

from energykit.fields import DotEnergy, EnergyField, ImplicitField, L2Energy
from energykit.objectives.coupling import Coupling
from energykit.objectives.eqm import EqMLoss
from energykit.objectives.flow_matching import FlowMatchingLoss
from energykit.objectives.schedules import Schedule


@dataclass(frozen=True)
class ObjectiveKindSpec:
    """One row of the table of objective kinds.

    Attributes:
        name: The kind as a recipe names it (`objective.kind`).
        head: The `EnergyField` class that reads the net (EqM kinds), or `None` for flow
            matching, whose net is a velocity.
        time_conditional: Whether the net takes the time $t$ as a second input.
    """

    name: str
    head: type[EnergyField] | None
    time_conditional: bool

    @property
    def flow_matching(self) -> bool:
        """Whether the kind trains a velocity (sampled by an ODE) rather than a field."""
        return self.head is None

    @property
    def has_energy(self) -> bool:
        """Whether the head is explicit, as its fields say (`field.has_energy`): the EqM-E
        heads, whose gradient is $\nabla_x E$ by autograd."""
        return self.head is not None and self._wrap(nn.Identity()).has_energy

    def loss(
        self, schedule: Schedule, coupling: Coupling | str | None = None
    ) -> EqMLoss | FlowMatchingLoss:
        """The loss object: EqM with `schedule` ($c(\\gamma)$), or flow matching (which has
        no schedule), both pairing noise and data by `coupling` (`None`: independent)."""
        if self.head is None:
            return FlowMatchingLoss(self.time_conditional, coupling)
        return EqMLoss(schedule, coupling)

    def field(self, net: nn.Module) -> EnergyField:
        """The `EnergyField` that `net` defines under this kind's head.

        Raises:
            ValueError: the kind is flow matching (its net is a velocity, not a field).
        """
        if self.head is None:
            raise ValueError(
                f"objective.kind: {self.name!r} trains a velocity (sampled by an ODE), not an "
                "energy field"
            )
        return self._wrap(net)

    def _wrap(self, net: nn.Module) -> EnergyField:
        # The heads take the net (the EnergyField base class takes nothing).
        return cast(Any, self.head)(net)

    def loss_target(self, net: nn.Module) -> Any:
        """What the loss is called with: the field for EqM kinds, the bare net for FM."""
        return net if self.head is None else self._wrap(net)


#: Every objective kind, by name (the order is the config's `ObjectiveKind`).
OBJECTIVE_KINDS: dict[str, ObjectiveKindSpec] = {
    spec.name: spec
    for spec in (
        ObjectiveKindSpec("eqm", ImplicitField, time_conditional=False),
        ObjectiveKindSpec("eqm-dot", DotEnergy, time_conditional=False),
        ObjectiveKindSpec("eqm-l2", L2Energy, time_conditional=False),
        ObjectiveKindSpec("fm", None, time_conditional=True),
        ObjectiveKindSpec("fm-uncond", None, time_conditional=False),
    )
}


def objective_kind(name: str) -> ObjectiveKindSpec:
    """The table row of `name`.

    Raises:
        ValueError: `name` is not a kind; the message lists the kinds.
    """
    spec = OBJECTIVE_KINDS.get(name) if isinstance(name, str) else None
    if spec is None:
        raise ValueError(f"objective.kind: expected one of {list(OBJECTIVE_KINDS)}, got {name!r}")
    return spec


def kind_of_field(field: EnergyField) -> ObjectiveKindSpec:
    """The EqM kind whose head `field` is (e.g. a converted reference checkpoint).

    Raises:
        ValueError: `field` is not one of the heads in the table.
    """
    for spec in OBJECTIVE_KINDS.values():
        if spec.head is not None and type(field) is spec.head:
            return spec
    heads = [s.head.__name__ for s in OBJECTIVE_KINDS.values() if s.head is not None]
    raise ValueError(f"field: expected one of the heads {heads}, got {type(field).__name__}")


__all__ = ["OBJECTIVE_KINDS", "ObjectiveKindSpec", "kind_of_field", "objective_kind"]

"""The Equilibrium Matching objective (paper Eq. 5) for implicit and explicit fields."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from energykit._checks import batch_view, check_gradient
from energykit.fields.base import EnergyField
from energykit.objectives.coupling import Coupling, resolve_coupling
from energykit.objectives.interpolant import draw_batch
from energykit.objectives.output import LossOutput
from energykit.objectives.schedules import Schedule, TruncatedDecay


class EqMLoss:
    """$\\mathcal L = \\mathbb E\\, \\lVert \\nabla E(x_\\gamma) - (\\epsilon - x)\\, c(\\gamma)
    \\rVert^2$, the squared error averaged over non-batch dimensions, then over the batch.

    The field gets no level input. For an explicit field (`DotEnergy`, `L2Energy`), its
    gradient is built with `create_graph=True` (grad mode is on while training), so
    `loss.backward()` is the double backward of EqM-E.

    With a `coupling` other than `none`, the noise is paired with the batch by minibatch
    optimal transport before $x_\\gamma$ and the target are formed (`ot`: exact, on the
    host; `sinkhorn`: entropic, on the device; `energykit.objectives.coupling`). The data
    and its conditioning keep their order, so labels follow the pairing; under DDP each rank
    couples its own local batch.

    Args:
        schedule: $c(\\gamma)$; the paper's `TruncatedDecay(a=0.8, scale=4.0)` by default.
        coupling: A `Coupling`, or its name `none`, `ot` or `sinkhorn` (with the defaults);
            `None` is `none`, the paper's independent pairing.

    Raises:
        TypeError: `schedule` is not a `Schedule`, or `coupling` is not a coupling.
        ValueError: `coupling` is an unknown name.
    """

    def __init__(
        self, schedule: Schedule | None = None, coupling: Coupling | str | None = None
    ) -> None:
        self.schedule = TruncatedDecay() if schedule is None else schedule
        if not isinstance(self.schedule, Schedule):
            raise TypeError(f"EqMLoss schedule: expected a Schedule, got {type(schedule)}")
        self.coupling = resolve_coupling(coupling, "EqMLoss")

    def target(self, x: Tensor, noise: Tensor, gamma: Tensor) -> Tensor:
        """$(\\epsilon - x)\\, c(\\gamma)$, shaped like `x`."""
        return (noise - x) * batch_view(self.schedule(gamma).to(x.dtype), x)

    def __call__(
        self,
        field: EnergyField,
        x: Tensor,
        *,
        gamma: Tensor | None = None,
        noise: Tensor | None = None,
        generator: torch.Generator | None = None,
        **cond: Any,
    ) -> LossOutput:
        """Evaluate the loss on a batch of data.

        Args:
            field: The field being trained.
            x: Data, `(B, *shape)`.
            gamma: Levels `(B,)`; drawn from $U[0, 1)$ when `None`.
            noise: $\\epsilon$ shaped like `x`; drawn from $\\mathcal N(0, I)$ when `None`;
                coupled with `x` either way.
            generator: Random generator for the draws (levels, noise, then the coupling's).
            **cond: Conditioning passed to the field.

        Raises:
            TypeError: `field` is not an `EnergyField`, or `x`/`noise` have the wrong dtype.
            ValueError: an empty batch, non-finite `x`/`noise`, or `gamma` outside `[0, 1]`.
        """
        if not callable(getattr(field, "gradient", None)):
            raise TypeError(
                f"EqMLoss field: expected an EnergyField (e.g. ImplicitField(net)), "
                f"got {type(field).__name__}"
            )
        x_gamma, gamma, noise = draw_batch(x, gamma, noise, generator, "gamma", self.coupling)
        pred = check_gradient(field, x_gamma, field.gradient(x_gamma, **cond))
        return LossOutput.regression(pred, self.target(x, noise, gamma), gamma)

"""A flow-matching velocity as one object: the net and whether it takes the time."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from torch import Tensor, nn

from energykit.flows.guidance import guided_velocity
from energykit.flows.ode import ODEResult, integrate


class Velocity(nn.Module):
    """A velocity model $v(x, t)$ (or $v(x)$ for noise-unconditional flow matching), sampled by
    integrating $\\dot x = v(x, t)$ from noise at $t = 0$ to data at $t = 1$.

    What a flow-matching checkpoint turns into (`TrainedModel.velocity()`), as an EqM one
    turns into an `EnergyField`: the sampler needs no objective name beside it.

    Args:
        net: The network, called `net(x, t, **cond)` (or `net(x, **cond)` when not
            `time_conditional`); any callable with that signature.
        time_conditional: Whether `net` takes the time `t` of shape `(B,)`.

    Raises:
        TypeError: `net` is not callable, or `time_conditional` is not a bool.
    """

    def __init__(self, net: Callable[..., Tensor], time_conditional: bool = True) -> None:
        super().__init__()
        if not callable(net):
            raise TypeError(f"Velocity net: expected a callable, got {type(net).__name__}")
        if not isinstance(time_conditional, bool):
            raise TypeError(
                f"Velocity time_conditional: expected a bool, got {type(time_conditional).__name__}"
            )
        self.net = net
        self.time_conditional = time_conditional

    def forward(self, x: Tensor, *args: Any, **cond: Any) -> Tensor:
        """`net(x, *args, **cond)`: `(B, *shape)` in, the velocity `(B, *shape)` out."""
        return self.net(x, *args, **cond)

    def guided(
        self, scale: float, null_label: int, *, channels: Sequence[int] | None = None
    ) -> Velocity:
        """Classifier-free guidance, $v_u + w (v_c - v_u)$ (`guided_velocity`), as a velocity
        with the same time input."""
        return Velocity(
            guided_velocity(self.net, scale, null_label, channels=channels), self.time_conditional
        )

    def integrate(self, x0: Tensor, *, steps: int, method: str = "euler", **kw: Any) -> ODEResult:
        """`integrate(self, x0, ...)` with this velocity's time input (`x0`: `(B, *shape)`)."""
        return integrate(
            self, x0, steps=steps, method=method, time_conditional=self.time_conditional, **kw
        )


__all__ = ["Velocity"]

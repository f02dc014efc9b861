"""Flow-matching baselines: time-conditional and noise-unconditional velocity regression."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from energykit._checks import check_dtype_like, check_shape
from energykit.objectives.coupling import Coupling, resolve_coupling
from energykit.objectives.interpolant import draw_batch
from energykit.objectives.output import LossOutput


class FlowMatchingLoss:
    """$\\mathcal L = \\mathbb E\\, \\lVert v(x_t, t) - (x - \\epsilon) \\rVert^2$ with
    $x_t = t x + (1 - t) \\epsilon$, $t \\sim U[0, 1)$, averaged like `EqMLoss`.

    The velocity points from noise to data, so samples come from integrating
    $\\dot x = v(x, t)$ from $t = 0$ to $1$ (see `energykit.flows`).

    A `coupling` other than `none` pairs the noise with the batch by minibatch optimal
    transport first (OT-CFM, Tong et al. 2024), exactly as in `EqMLoss`: labels follow,
    and under DDP each rank couples its own local batch.

    Args:
        time_conditional: Call `net(x_t, t, **cond)` (standard FM); with `False`, call
            `net(x_t, **cond)` (noise-unconditional FM, the EqM ablation).
        coupling: A `Coupling`, or its name `none`, `ot` or `sinkhorn`; `None` is `none`.

    Raises:
        TypeError: `time_conditional` is not a bool, or `coupling` is not a coupling.
        ValueError: `coupling` is an unknown name.
    """

    def __init__(
        self, time_conditional: bool = True, coupling: Coupling | str | None = None
    ) -> None:
        if not isinstance(time_conditional, bool):
            raise TypeError(f"time_conditional: expected a bool, got {type(time_conditional)}")
        self.time_conditional = time_conditional
        self.coupling = resolve_coupling(coupling, "FlowMatchingLoss")

    def __call__(
        self,
        net: Callable[..., Tensor],
        x: Tensor,
        *,
        t: Tensor | None = None,
        noise: Tensor | None = None,
        generator: torch.Generator | None = None,
        **cond: Any,
    ) -> LossOutput:
        """Evaluate the loss on a batch of data.

        Args:
            net: Velocity model.
            x: Data, `(B, *shape)`.
            t: Times `(B,)`; drawn from $U[0, 1)$ when `None`.
            noise: $\\epsilon$ shaped like `x`; drawn when `None`; coupled with `x` either
                way.
            generator: Random generator for the draws (times, noise, then the coupling's).
            **cond: Conditioning passed to the net.

        Raises:
            TypeError: `net` is not callable, or `x`/`noise` have the wrong dtype.
            ValueError: an empty batch, non-finite `x`/`noise`, or `t` outside `[0, 1]`.
        """
        if not callable(net):
            raise TypeError(f"FlowMatchingLoss net: expected a callable, got {type(net).__name__}")
        x_t, t, noise = draw_batch(x, t, noise, generator, "t", self.coupling)
        check_dtype_like("x", x, net, owner="net")
        pred = net(x_t, t, **cond) if self.time_conditional else net(x_t, **cond)
        check_shape("net output", pred, x.shape)
        return LossOutput.regression(pred, x - noise, t)

"""Classifier-free guidance in energy space.

$E_w = E_u + w (E_c - E_u)$, hence $\\nabla E_w = \\nabla E_u + w (\\nabla E_c - \\nabla E_u)$,
where $E_c$ is the class-conditional energy and $E_u$ the unconditional one (the null class).
Conditional and unconditional terms come from one batched call of size `2B`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from energykit._checks import (
    check_class_index,
    check_int,
    check_labels,
    check_real,
    net_label_rows,
)
from energykit.fields.base import EnergyField, NoEnergyError


class Guided(EnergyField):
    """Classifier-free guidance of a class-conditional field.

    Args:
        field: A field taking the class as keyword `key` (default `y`), shape `(B,)`.
        scale: Guidance weight $w$; 1 is plain conditional sampling, 0 unconditional.
        null_label: The class index meaning "no class" (EqM: `num_classes`).
        channels: Guide only these channels (dim 1) and take the conditional gradient for the
            others. The reference EqM code guides latent channels `(0, 1, 2)` only and its
            reported numbers use that; the default `None` guides every channel.
        key: Name of the class keyword.

    Raises:
        TypeError: the class keyword is missing at call time.
    """

    def __init__(
        self,
        field: EnergyField,
        scale: float,
        null_label: int,
        *,
        channels: Sequence[int] | None = None,
        key: str = "y",
    ) -> None:
        super().__init__()
        if not isinstance(field, EnergyField):
            raise TypeError(f"Guided field: expected an EnergyField, got {type(field).__name__}")
        self.field = field
        self.scale = check_real("Guided scale", scale)
        # Rows of the class table of the net under a neural field (`num_classes + 1` with a
        # null row), when the net says; `None` otherwise.
        self.label_rows = net_label_rows(getattr(field, "net", None))
        self.null_label = check_class_index("Guided null_label", null_label, self.label_rows)
        self.channels = None if channels is None else _check_channels(channels)
        if not isinstance(key, str):
            raise TypeError(f"Guided key: expected a str, got {type(key).__name__}")
        self.key = key

    @property
    def has_energy(self) -> bool:
        return self.field.has_energy and self.channels is None

    @property
    def label(self) -> str:
        return f"Guided({self.field.label}, scale={self.scale:g})"

    def _doubled(self, x: Tensor, cond: dict[str, Any]) -> tuple[Tensor, dict[str, Any]]:
        if self.key not in cond:
            raise TypeError(f"{self.label}: expected the class as keyword {self.key!r}")
        y = check_labels(f"Guided {self.key}", cond[self.key], self.label_rows)
        y = y.to(x.device)
        y = y.expand(x.shape[0]) if y.ndim == 0 else y
        if y.shape != (x.shape[0],):
            raise ValueError(
                f"{self.label}: {self.key!r} expected shape ({x.shape[0]},), got {tuple(y.shape)}"
            )
        doubled: dict[str, Any] = {
            k: torch.cat([v, v]) if isinstance(v, Tensor) and v.ndim > 0 else v
            for k, v in cond.items()
        }
        doubled[self.key] = torch.cat([y, torch.full_like(y, self.null_label)])
        return torch.cat([x, x]), doubled

    def gradient(self, x: Tensor, **cond: Any) -> Tensor:
        x2, cond2 = self._doubled(x, cond)
        g_c, g_u = self.field.gradient(x2, **cond2).chunk(2)
        guided = g_u + self.scale * (g_c - g_u)
        if self.channels is None:
            return guided
        if x.ndim < 2 or max(self.channels) >= x.shape[1]:
            raise ValueError(
                f"Guided channels: expected indices below the {x.shape[1] if x.ndim > 1 else 0} "
                f"channels (dim 1) of x {tuple(x.shape)}, got {self.channels}"
            )
        out = g_c.clone()
        idx = list(self.channels)
        out[:, idx] = guided[:, idx]
        return out

    def energy(self, x: Tensor, **cond: Any) -> Tensor:
        if self.channels is not None:
            raise NoEnergyError(f"{self.label}: guidance restricted to channels has no energy")
        x2, cond2 = self._doubled(x, cond)
        e_c, e_u = self.field.energy(x2, **cond2).chunk(2)
        return e_u + self.scale * (e_c - e_u)


def _check_channels(channels: Sequence[int]) -> tuple[int, ...]:
    """Non-empty, distinct, non-negative channel indices."""
    if isinstance(channels, str) or not isinstance(channels, Sequence):
        raise TypeError(f"Guided channels: expected a sequence of ints, got {channels!r}")
    out = tuple(check_int("Guided channels", c, minimum=0) for c in channels)
    if not out or len(set(out)) != len(out):
        raise ValueError(f"Guided channels: expected distinct indices (at least one), got {out}")
    return out

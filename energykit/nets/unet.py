"""A small convolutional U-Net for 8x8 and 28x28 images, with optional time and class input."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from energykit._checks import check_int, check_labels, check_per_sample
from energykit.nets.embeddings import sinusoidal_embedding


def _norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with the largest group count <= 8 that divides `channels`."""
    groups = next(g for g in range(min(8, channels), 0, -1) if channels % g == 0)
    return nn.GroupNorm(groups, channels)


class _ResBlock(nn.Module):
    """`x + conv(silu(norm(conv(silu(norm(x))) + emb)))`, with a 1x1 skip when widths differ."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int | None) -> None:
        super().__init__()
        self.norm1, self.conv1 = _norm(c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.norm2, self.conv2 = _norm(c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.emb = None if emb_dim is None else nn.Linear(emb_dim, c_out)
        self.skip = nn.Identity() if c_in == c_out else nn.Conv2d(c_in, c_out, 1)
        self.act = nn.SiLU()

    def forward(self, x: Tensor, emb: Tensor | None) -> Tensor:
        h = self.conv1(self.act(self.norm1(x)))
        if self.emb is not None and emb is not None:
            h = h + self.emb(emb)[:, :, None, None]
        h = self.conv2(self.act(self.norm2(h)))
        return self.skip(x) + h


class UNet(nn.Module):
    """U-Net `(B, C, H, W) -> (B, C, H, W)`: one residual block per level on the way down,
    average-pool between levels, nearest upsampling and skip concatenation on the way up.

    Smooth activations throughout (SiLU, GroupNorm), so explicit-energy heads can
    differentiate through it twice. `H` and `W` must be divisible by `2 ** (len(channels) - 1)`
    (8x8 and 28x28 work with two levels).

    Args:
        in_channels: Image channels `C`.
        channels: Feature channels per level, e.g. `(32, 64)`.
        time_dim: Width of the sinusoidal time embedding; `None` for a time-free net (EqM).
        num_classes: Number of classes; the table has `num_classes + 1` rows (the last is the
            null class of classifier-free guidance). `None` for an unconditional net.
    """

    def __init__(
        self,
        in_channels: int = 1,
        channels: Sequence[int] = (32, 64),
        *,
        time_dim: int | None = None,
        num_classes: int | None = None,
    ) -> None:
        super().__init__()
        self.in_channels = check_int("UNet in_channels", in_channels, minimum=1)
        chans = [check_int("UNet channels", c, minimum=1) for c in channels]
        if not chans:
            raise ValueError("UNet channels: expected at least one level, got an empty list")
        self.levels = len(chans)
        self.time_dim = time_dim
        self.num_classes = num_classes
        emb_dim = chans[0] * 4 if (time_dim is not None or num_classes is not None) else None
        width = emb_dim or 1
        self.time = None
        if time_dim is not None:
            time_dim = check_int("UNet time_dim", time_dim, minimum=2)
            self.time = nn.Sequential(
                nn.Linear(time_dim, width), nn.SiLU(), nn.Linear(width, width)
            )
        self.classes = None
        if num_classes is not None:
            num_classes = check_int("UNet num_classes", num_classes, minimum=1)
            self.classes = nn.Embedding(num_classes + 1, width)
        self.stem = nn.Conv2d(in_channels, chans[0], 3, padding=1)
        self.down = nn.ModuleList()
        prev = chans[0]
        for c in chans:
            self.down.append(_ResBlock(prev, c, emb_dim))
            prev = c
        self.mid = _ResBlock(prev, prev, emb_dim)
        self.up = nn.ModuleList()
        for c in reversed(chans):
            self.up.append(_ResBlock(prev + c, c, emb_dim))
            prev = c
        self.out = nn.Sequential(_norm(prev), nn.SiLU(), nn.Conv2d(prev, in_channels, 3, padding=1))
        self.pool = nn.AvgPool2d(2)
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")

    @property
    def label_rows(self) -> int | None:
        """Rows of the class table (`num_classes + 1`, the last the null class), or `None`."""
        return None if self.classes is None else self.classes.num_embeddings

    def _embedding(self, x: Tensor, t: Tensor | None, y: Tensor | None) -> Tensor | None:
        emb = None
        if self.time is not None:
            if t is None:
                raise TypeError("UNet: built with time_dim, so t (shape (B,)) is required")
            assert self.time_dim is not None
            t = check_per_sample("UNet t", t, x.shape[0])
            emb = self.time(sinusoidal_embedding(t.to(x.dtype), self.time_dim))
        elif t is not None:
            raise TypeError("UNet: built without time_dim (time-free), but t was given")
        if self.classes is not None:
            if y is None:
                raise TypeError("UNet: built with num_classes, so y (shape (B,)) is required")
            labels = check_labels("UNet y", y, self.label_rows).to(x.device)
            e = self.classes(labels.long().expand(x.shape[0]))
            emb = e if emb is None else emb + e
        elif y is not None:
            raise TypeError("UNet: built without num_classes, but y was given")
        return emb

    def forward(self, x: Tensor, t: Tensor | None = None, y: Tensor | None = None) -> Tensor:
        """Map images (plus optional time `(B,)` and class `(B,)`) to images of the same shape."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"UNet x: expected (B, {self.in_channels}, H, W), got {tuple(x.shape)}"
            )
        factor = 2 ** (self.levels - 1)
        if x.shape[2] % factor or x.shape[3] % factor:
            raise ValueError(
                f"UNet x: H and W must be divisible by {factor} for {self.levels} levels, "
                f"got {tuple(x.shape[2:])}"
            )
        emb = self._embedding(x, t, y)
        h = self.stem(x)
        skips = []
        for i, block in enumerate(self.down):
            h = block(h, emb)
            skips.append(h)
            if i < self.levels - 1:
                h = self.pool(h)
        h = self.mid(h, emb)
        for i, block in enumerate(self.up):
            if i > 0:
                h = self.upsample(h)
            h = block(torch.cat([h, skips.pop()], dim=1), emb)
        return self.out(h)

"""A convolutional U-Net for small images (8x8, 28x28, 32x32), fast on a CPU.

No block runs at full resolution: a pixel-unshuffle stem folds each `patch x patch` tile into
channels, the U-Net works on the `H / patch` grid, and a pixel-shuffle head unfolds it again,
followed by one cheap full-resolution 3x3 convolution over the unfolded features and the input
(so the output is not tiled). Self-attention runs only at the lowest resolution.

At 28x28, batch 128, one CPU thread, `UNet(1, (32, 64))` trains about 3.3x faster than the same
widths at full resolution (`patch=1`, no attention); `benchmarks/README.md` has the table.
"""

from __future__ import annotations

import math
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
    """`skip(x) + conv(silu(norm(conv(silu(norm(x))) + emb)))`; 1x1 skip when widths differ."""

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


class _Attention(nn.Module):
    """Multi-head self-attention over the `H * W` positions, `x + proj(softmax(q k^T / sqrt(d)) v)`.

    Written with plain matmuls and softmax (not a fused kernel) so explicit-energy heads can
    differentiate through it twice.
    """

    def __init__(self, channels: int, head_dim: int = 32) -> None:
        super().__init__()
        self.heads = max(1, channels // head_dim)
        if channels % self.heads:
            self.heads = 1
        self.norm = _norm(channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, self.heads, c // self.heads, h * w).unbind(1)
        # (B, heads, d, N) -> attention weights over N positions
        weights = torch.softmax(q.transpose(-1, -2) @ k / math.sqrt(c // self.heads), dim=-1)
        out = (v @ weights.transpose(-1, -2)).reshape(b, c, h, w)
        return x + self.proj(out)


def _output_layers(width: int, channels: int, patch: int) -> tuple[nn.Sequential, nn.Conv2d | None]:
    """The output convolution from `width` features to `channels` image channels and, for
    `patch > 1`, the full-resolution head: the output unfolds to `2 * channels` features per
    pixel (pixel-shuffle), which the head mixes with the input image in one 3x3 convolution."""
    if patch == 1:
        conv = nn.Conv2d(width, channels, 3, padding=1)
        return nn.Sequential(_norm(width), nn.SiLU(), conv), None
    unfold = nn.Sequential(
        _norm(width),
        nn.SiLU(),
        nn.Conv2d(width, 2 * channels * patch**2, 3, padding=1),
        nn.PixelShuffle(patch),
    )
    return unfold, nn.Conv2d(3 * channels, channels, 3, padding=1)


class UNet(nn.Module):
    """U-Net `(B, C, H, W) -> (B, C, H, W)` on the `patch`-folded grid.

    Layout: pixel-unshuffle by `patch` and a 3x3 stem; one residual block per level on the way
    down with average pooling between levels; a middle block, followed by self-attention when
    `attention`; nearest upsampling and skip concatenation on the way up; a 3x3 output
    convolution to `C * patch**2` channels (times two), pixel-shuffle back to `H x W`, and a
    full-resolution 3x3 convolution over those features and the input image.

    Smooth activations throughout (SiLU, GroupNorm, softmax), so explicit-energy heads can
    differentiate through it twice. `H` and `W` must be divisible by
    `patch * 2 ** (len(channels) - 1)` (28x28: patch 2 with two levels; 8x8: patch 1 or 2 with
    two levels; 32x32: patch 2 with up to five levels).

    Args:
        in_channels: Image channels `C`.
        channels: Feature channels per level, e.g. `(32, 64)`.
        time_dim: Width of the sinusoidal time embedding; `None` for a time-free net (EqM).
        num_classes: Number of classes; the table has `num_classes + 1` rows (the last is the
            null class of classifier-free guidance). `None` for an unconditional net.
        patch: Pixel-unshuffle factor of the stem; 1 runs the first level at full resolution.
        attention: Self-attention in the middle block (the lowest resolution only).
    """

    def __init__(
        self,
        in_channels: int = 1,
        channels: Sequence[int] = (32, 64),
        *,
        time_dim: int | None = None,
        num_classes: int | None = None,
        patch: int = 2,
        attention: bool = True,
    ) -> None:
        super().__init__()
        self.in_channels = check_int("UNet in_channels", in_channels, minimum=1)
        chans = [check_int("UNet channels", c, minimum=1) for c in channels]
        if not chans:
            raise ValueError("UNet channels: expected at least one level, got an empty list")
        self.patch = check_int("UNet patch", patch, minimum=1)
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
        folded = in_channels * self.patch**2
        self.unshuffle = nn.PixelUnshuffle(self.patch)
        self.stem = nn.Conv2d(folded, chans[0], 3, padding=1)
        self.down = nn.ModuleList()
        prev = chans[0]
        for c in chans:
            self.down.append(_ResBlock(prev, c, emb_dim))
            prev = c
        self.mid = _ResBlock(prev, prev, emb_dim)
        self.attn = _Attention(prev) if attention else None
        self.up = nn.ModuleList()
        for c in reversed(chans):
            self.up.append(_ResBlock(prev + c, c, emb_dim))
            prev = c
        self.out, self.head = _output_layers(prev, in_channels, self.patch)
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
        factor = self.patch * 2 ** (self.levels - 1)
        if x.shape[2] % factor or x.shape[3] % factor:
            raise ValueError(
                f"UNet x: H and W must be divisible by {factor} (patch {self.patch}, "
                f"{self.levels} levels), got {tuple(x.shape[2:])}"
            )
        emb = self._embedding(x, t, y)
        h = self.stem(self.unshuffle(x))
        skips = []
        for i, block in enumerate(self.down):
            h = block(h, emb)
            skips.append(h)
            if i < self.levels - 1:
                h = self.pool(h)
        h = self.mid(h, emb)
        if self.attn is not None:
            h = self.attn(h)
        for i, block in enumerate(self.up):
            if i > 0:
                h = self.upsample(h)
            h = block(torch.cat([h, skips.pop()], dim=1), emb)
        h = self.out(h)
        if self.head is None:
            return h
        return self.head(torch.cat([h, x], dim=1))

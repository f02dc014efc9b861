"""Sample grids for images and scatter plots for 2-D samples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from energykit._png import image_grid
from energykit.viz._mpl import pyplot


def save_samples(x: Tensor, path: str | Path, *, title: str | None = None, **kw: Any) -> Path:
    """Save samples as a PNG: an image grid for `(B, C, H, W)` in $[-1, 1]$ (or `uint8`
    `(B, H, W, C)` in $[0, 255]$, as ADM reference batches store them), a scatter plot for
    `(B, 2)`."""
    x = _as_images(x)
    plt = pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5, 5))
    if x.ndim == 4:
        grid = image_grid(x, **kw)
        pixels = (grid.squeeze(-1) if grid.shape[-1] == 1 else grid).numpy()
        ax.imshow(pixels, cmap="gray", vmin=0, vmax=1)
        ax.axis("off")
    elif x.ndim == 2 and x.shape[1] == 2:
        pts = x.detach().cpu().numpy()
        ax.scatter(pts[:, 0], pts[:, 1], s=2, c="C3")
        ax.set_aspect("equal")
    else:
        raise ValueError(f"save_samples x: expected (B, C, H, W) or (B, 2), got {tuple(x.shape)}")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _as_images(x: Tensor) -> Tensor:
    """`uint8` images `(B, H, W, C)` in $[0, 255]$ as `(B, C, H, W)` in $[-1, 1]$; else `x`."""
    if x.dtype != torch.uint8 or x.ndim != 4:
        return x
    return x.permute(0, 3, 1, 2).float() / 127.5 - 1.0  # (B, H, W, C) -> (B, C, H, W)

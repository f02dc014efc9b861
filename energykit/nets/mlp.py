"""A residual MLP for low-dimensional data, optionally time- and class-conditioned."""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from energykit._checks import check_int, check_labels, check_per_sample
from energykit.nets.embeddings import sinusoidal_embedding

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "silu": nn.SiLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "softplus": nn.Softplus,
}


class _Block(nn.Module):
    """`x + W2 act(W1 act(x))` with a pre-activation (smooth, so double backward is useful)."""

    def __init__(self, width: int, activation: Callable[[], nn.Module]) -> None:
        super().__init__()
        self.net = nn.Sequential(
            activation(), nn.Linear(width, width), activation(), nn.Linear(width, width)
        )

    def forward(self, h: Tensor) -> Tensor:
        return h + self.net(h)


class MLP(nn.Module):
    """Residual MLP `(B, *shape) -> (B, *shape)` (or `(B, out_dim)`).

    Time and class inputs are added to the first hidden layer: time through a sinusoidal
    embedding and a linear map, classes through a table with `num_classes + 1` rows (the last
    row is the null class used by classifier-free guidance).

    Args:
        dim: Number of input features, `prod(shape)`.
        width: Hidden width.
        depth: Number of residual blocks.
        out_dim: Output features; default `dim`, with the output reshaped like the input.
        time_dim: Width of the sinusoidal time embedding; `None` for a time-free net (EqM).
        num_classes: Number of classes for conditioning; `None` for an unconditional net.
        activation: One of `silu`, `gelu`, `tanh`, `softplus`.
        skip: Add a learned linear map of the input to the output. When `width < dim` (e.g.
            28x28 images through width 512) the hidden layers are a rank-`width` bottleneck that
            cannot pass the noise through, and samples stay grainy; the skip is a full-rank path.
    """

    def __init__(
        self,
        dim: int,
        width: int = 256,
        depth: int = 3,
        *,
        out_dim: int | None = None,
        time_dim: int | None = None,
        num_classes: int | None = None,
        activation: str = "silu",
        skip: bool = False,
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"MLP activation: expected one of {sorted(ACTIVATIONS)}, got {activation!r}"
            )
        self.dim = check_int("MLP dim", dim, minimum=1)
        self.out_dim = self.dim if out_dim is None else check_int("out_dim", out_dim, minimum=1)
        width = check_int("MLP width", width, minimum=1)
        depth = check_int("MLP depth", depth, minimum=0)
        if time_dim is not None:
            time_dim = check_int("MLP time_dim", time_dim, minimum=1)
        if num_classes is not None:
            num_classes = check_int("MLP num_classes", num_classes, minimum=1)
        act = ACTIVATIONS[activation]
        self.time_dim = time_dim
        self.num_classes = num_classes
        self.inp = nn.Linear(self.dim, width)
        self.time = None if time_dim is None else nn.Linear(time_dim, width)
        self.classes = None if num_classes is None else nn.Embedding(num_classes + 1, width)
        self.blocks = nn.Sequential(*[_Block(width, act) for _ in range(depth)])
        self.out = nn.Sequential(act(), nn.Linear(width, self.out_dim))
        self.skip = nn.Linear(self.dim, self.out_dim) if skip else None

    @property
    def label_rows(self) -> int | None:
        """Rows of the class table (`num_classes + 1`, the last the null class), or `None`."""
        return None if self.classes is None else self.classes.num_embeddings

    def forward(self, x: Tensor, t: Tensor | None = None, y: Tensor | None = None) -> Tensor:
        """Map samples (plus optional time and class) to samples.

        Args:
            x: Input, `(B, *shape)` with `prod(shape) == dim`.
            t: Time per sample `(B,)`; required iff the net was built with `time_dim`.
            y: Class per sample `(B,)` int; required iff built with `num_classes`.

        Returns:
            `(B, *shape)` when `out_dim == dim`, else `(B, out_dim)`.
        """
        flat = x.reshape(x.shape[0], -1)  # (B, *shape) -> (B, dim)
        if flat.shape[1] != self.dim:
            raise ValueError(f"MLP x: expected {self.dim} features, got {tuple(x.shape[1:])}")
        h = self.inp(flat)
        if self.time is not None:
            if t is None:
                raise TypeError("MLP: built with time_dim, so t (shape (B,)) is required")
            assert self.time_dim is not None
            t = check_per_sample("MLP t", t, x.shape[0])
            h = h + self.time(sinusoidal_embedding(t.to(x.dtype), self.time_dim))
        elif t is not None:
            raise TypeError("MLP: built without time_dim (time-free), but t was given")
        if self.classes is not None:
            if y is None:
                raise TypeError("MLP: built with num_classes, so y (shape (B,)) is required")
            labels = check_labels("MLP y", y, self.label_rows).to(x.device)
            h = h + self.classes(labels.long().expand(x.shape[0]))
        elif y is not None:
            raise TypeError("MLP: built without num_classes, but y was given")
        out = self.out(self.blocks(h))
        if self.skip is not None:
            out = out + self.skip(flat)
        return out.reshape(x.shape) if self.out_dim == self.dim else out

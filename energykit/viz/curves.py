"""Quality against cost: one line per sampler, with the spread over seeds as a band."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def plot_quality_vs_nfe(
    ax: Any,
    curves: Mapping[str, tuple[Sequence[float], Sequence[Sequence[float]]]],
    *,
    reference: float | None = 1.0,
    ylabel: str = "quality",
    log_y: bool = True,
) -> None:
    """Draw each curve `label -> (nfe, values per seed)` as its mean over seeds with a band
    from the lowest to the highest seed, against NFE on a log axis.

    Args:
        ax: A matplotlib axes.
        curves: For each label, the NFE values `(P,)` and, per NFE, the values of each seed
            `(P, S)`.
        reference: A horizontal line (e.g. the 250-step sampler at ratio 1); `None` for none.
        ylabel: The y-axis label.
        log_y: Log scale on y.
    """
    for label, (nfe, values) in curves.items():
        mean = [sum(v) / len(v) for v in values]
        ax.plot(nfe, mean, marker="o", label=label)
        ax.fill_between(nfe, [min(v) for v in values], [max(v) for v in values], alpha=0.2)
    if reference is not None:
        ax.axhline(reference, color="0.3", linestyle="--", linewidth=1)
    ax.set_xscale("log")
    ticks = sorted({float(n) for nfe, _ in curves.values() for n in nfe})
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.minorticks_off()
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel("network evaluations per sample (NFE)")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)


__all__ = ["plot_quality_vs_nfe"]

"""Figures of the study: per-sample steps under adaptive compute (digits, 3x training).

python recipes/study/figures.py runs/study docs/images/study_steps_hist.png
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from energykit.viz import pyplot


def steps_histograms(root: Path, out: Path) -> Path:
    """One panel per g_min fraction: how many NAG-GD steps each of the 3 x 1,000 samples of
    the digits EqM models took before its gradient norm fell below g_min."""
    plt = pyplot()
    rows: dict[float, list[int]] = {}
    for path in sorted((root / "results").glob("digits-main-eqm-s*.json")):
        for row in json.loads(path.read_text())["evals"].get("3x", []):
            if row["what"] == "adaptive" and "steps_hist" in row:
                counts = rows.setdefault(row["g_factor"], [0] * len(row["steps_hist"]))
                for i, c in enumerate(row["steps_hist"]):
                    counts[i] += c
    fig, axes = plt.subplots(1, len(rows), figsize=(3.2 * len(rows), 3), sharey=True)
    for ax, (frac, counts) in zip(axes, sorted(rows.items()), strict=True):
        total = sum(counts)
        mean = sum(i * c for i, c in enumerate(counts)) / total
        ax.bar(range(len(counts)), counts, width=1.0, color="C0")
        ax.axvline(250, color="C3", ls="--", lw=1)
        ax.set(title=f"g_min = {frac} x initial norm\nmean {mean:.0f} steps", xlabel="steps")
    axes[0].set_ylabel("samples (3 seeds)")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


if __name__ == "__main__":
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/study")
    out = Path(sys.argv[2] if len(sys.argv) > 2 else root / "study_steps_hist.png")
    print(steps_histograms(root, out))

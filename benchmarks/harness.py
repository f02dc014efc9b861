"""Side-by-side timing: two ways of doing the same work, interleaved in one process.

Each case runs both sides once to warm up, then `repeats` rounds in alternating order; a
round's ratio is `other / base` (below 1: `other` is faster). The table shows the median
ratio with its min-max over rounds, and the median seconds of each side.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from energykit.viz import markdown_table


@dataclass
class Case:
    """One comparison.

    Attributes:
        name: What is measured (the row label).
        base: Label of the reference side (the denominator).
        other: Label of the measured side (the numerator).
        run_base: Does the reference work once.
        run_other: Does the same work the other way.
        target: Ratio the row should stay at or below, if any.
    """

    name: str
    base: str
    other: str
    run_base: Callable[[], object]
    run_other: Callable[[], object]
    target: float | None = None


@dataclass
class Row:
    """A measured case: median ratio, its range, and median seconds of both sides."""

    case: Case
    ratio: float
    low: float
    high: float
    base_s: float
    other_s: float

    @property
    def verdict(self) -> str:
        if self.case.target is None:
            return ""
        return "meets" if self.ratio <= self.case.target else "MISSES"


def _time(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def measure(case: Case, repeats: int) -> Row:
    """Warm up both sides, then time `repeats` interleaved rounds."""
    case.run_base()
    case.run_other()
    ratios, base, other = [], [], []
    for r in range(repeats):
        if r % 2:
            o, b = _time(case.run_other), _time(case.run_base)
        else:
            b, o = _time(case.run_base), _time(case.run_other)
        base.append(b)
        other.append(o)
        ratios.append(o / b)
    return Row(
        case,
        statistics.median(ratios),
        min(ratios),
        max(ratios),
        statistics.median(base),
        statistics.median(other),
    )


def table(rows: list[Row]) -> str:
    """The Markdown table of measured rows."""
    header = ["case", "base", "other", "ratio other/base (median, min-max)", "base s"]
    cells = [
        [
            r.case.name,
            r.case.base,
            r.case.other,
            f"{r.ratio:.3f} ({r.low:.3f}-{r.high:.3f})",
            f"{r.base_s:.4f}",
            f"{r.other_s:.4f}",
            "" if r.case.target is None else f"<= {r.case.target:g} ({r.verdict})",
        ]
        for r in rows
    ]
    return markdown_table([*header, "other s", "target"], cells).rstrip("\n")

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


@dataclass
class Group:
    """Several ways of doing work, timed in interleaved rounds (`measure_group`).

    Attributes:
        seconds: Per label, the seconds of each timed round (warm-up excluded).
        warmup_s: Per label, the seconds of its warm-up call (compilation lands here).
        failed: Per label that raised during its warm-up, the error (it is not timed).
    """

    seconds: dict[str, list[float]]
    warmup_s: dict[str, float]
    failed: dict[str, str]

    def median(self, label: str) -> float:
        """Median seconds of one round of `label`."""
        return statistics.median(self.seconds[label])

    def ratio(self, base: str, other: str) -> tuple[float, float, float]:
        """`other / base` seconds, round by round: median, min, max."""
        ratios = [o / b for b, o in zip(self.seconds[base], self.seconds[other], strict=True)]
        return statistics.median(ratios), min(ratios), max(ratios)


def _time_synced(fn: Callable[[], object], sync: Callable[[], None] | None) -> float:
    """Seconds of `fn()`; with `sync` (e.g. `torch.cuda.synchronize`), the device is idle
    when the clock starts and has finished `fn`'s work when it stops."""
    if sync is not None:
        sync()
    t0 = time.perf_counter()
    fn()
    if sync is not None:
        sync()
    return time.perf_counter() - t0


def measure_group(
    runs: dict[str, Callable[[], object]],
    repeats: int,
    *,
    sync: Callable[[], None] | None = None,
    catch: bool = True,
) -> Group:
    """Warm up every run once (timed apart: compilation goes there), then time `repeats`
    rounds, each running every label once, in reversed order on odd rounds. A run that
    raises in its warm-up is recorded in `failed` (re-raised when `catch` is false)."""
    warmup_s: dict[str, float] = {}
    failed: dict[str, str] = {}
    for label, fn in runs.items():
        try:
            warmup_s[label] = _time_synced(fn, sync)
        except Exception as err:
            if not catch:
                raise
            failed[label] = f"{type(err).__name__}: {' '.join(str(err).split())[:160]}"
    live = [label for label in runs if label not in failed]
    seconds: dict[str, list[float]] = {label: [] for label in live}
    for r in range(repeats):
        for label in reversed(live) if r % 2 else live:
            seconds[label].append(_time_synced(runs[label], sync))
    return Group(seconds, warmup_s, failed)

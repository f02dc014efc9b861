"""The training log: JSON lines (non-finite numbers as `null`) and the progress bar."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

from torch import Tensor

from energykit.train.resume import trim_log


def write_record(log: Any, record: dict[str, Any]) -> None:
    """One JSON line; NaN and infinities become `null` (JSON has no such numbers)."""
    log.write(json.dumps(json_safe(record), allow_nan=False) + "\n")
    log.flush()


def open_log(out: Path, config: dict[str, Any], step: int) -> Any:
    """Write `out/config.json`, trim `out/log.jsonl` to `step` (records of later steps are
    redone by a resumed run) and open it for appending."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(config, indent=2))
    trim_log(out / "log.jsonl", step)
    return (out / "log.jsonl").open("a")


def scalar(t: Tensor) -> float:
    """A 0-d tensor (or FSDP's DTensor, gathered) as a float."""
    full = getattr(t, "full_tensor", None)
    return float(full() if callable(full) else t)


def json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def interactive() -> bool:
    """Whether stderr is a terminal (or a notebook, where tqdm draws a widget)."""
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(callable(isatty) and isatty()) or "ipykernel" in sys.modules


def log_line(step: int, total: int, metrics: dict[str, Any]) -> str:
    """One line for a batch-job log: `step 1200/9000  loss 0.04213  grad_norm 1.2  52.1
    step/s  eta 2m31s` (the metrics that are numbers, rate and time left last)."""
    parts = [f"step {step}/{total}"]
    for key, value in metrics.items():
        if key not in ("it_per_s", "elapsed_s") and isinstance(value, float):
            parts.append(f"{key} {value:.4g}")
    rate = metrics.get("it_per_s")
    if isinstance(rate, float) and rate > 0:
        parts.append(f"{rate:.3g} step/s")
        parts.append(f"eta {duration((total - step) / rate)}")
    return "  ".join(parts)


def duration(seconds: float) -> str:
    """`seconds` as `1h02m`, `2m31s` or `45s`."""
    s = round(seconds)
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


class Progress:
    """Progress of training steps on stderr, when `enabled`: on a terminal (or in a
    notebook) a tqdm bar showing a running average of the loss, kept on the device and read
    back only on log steps; elsewhere (a pipe, a batch job's log file) one plain line per
    logged step (`log_line`), never a carriage return. Without tqdm, lines everywhere."""

    def __init__(self, enabled: bool, *, initial: int, total: int) -> None:
        self.bar: Any = None
        self.lines = False
        self.total = total
        self._running: Tensor | None = None
        if not enabled:
            return
        if interactive():
            try:
                from tqdm.auto import tqdm
            except ImportError:
                pass
            else:
                self.bar = tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True)
                return
        self.lines = True

    def update(self, loss: Tensor) -> None:
        """One step taken with this (0-d, device) loss."""
        if self.bar is None:
            return
        r = self._running
        self._running = loss.clone() if r is None else r.mul_(0.98).add_(loss, alpha=0.02)
        self.bar.update(1)

    def show(self, step: int, metrics: dict[str, Any]) -> None:
        """A log step's `metrics` (already read back): the running loss on the bar (one more
        read-back), or one line."""
        if self.lines:
            print(log_line(step, self.total, metrics), file=sys.stderr, flush=True)
        elif self.bar is not None and self._running is not None:
            self.bar.set_postfix(loss=f"{float(self._running):.4f}", refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

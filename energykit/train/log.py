"""The training log: JSON lines (non-finite numbers as `null`) and the progress bar."""

from __future__ import annotations

import json
import math
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


class Progress:
    """A tqdm bar of training steps (when `enabled` and tqdm is installed; otherwise every
    method is a no-op) showing a running average of the loss, kept on the device and read
    back only when `show` is called (on log steps)."""

    def __init__(self, enabled: bool, *, initial: int, total: int) -> None:
        self.bar: Any = None
        self._running: Tensor | None = None
        if enabled:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                return
            self.bar = tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True)

    def update(self, loss: Tensor) -> None:
        """One step taken with this (0-d, device) loss."""
        if self.bar is None:
            return
        r = self._running
        self._running = loss.clone() if r is None else r.mul_(0.98).add_(loss, alpha=0.02)
        self.bar.update(1)

    def show(self) -> None:
        """Put the running loss on the bar (one read-back)."""
        if self.bar is not None and self._running is not None:
            self.bar.set_postfix(loss=f"{float(self._running):.4f}", refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

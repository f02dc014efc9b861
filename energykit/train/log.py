"""The training log: JSON lines (non-finite numbers as `null`) and the progress bar."""

from __future__ import annotations

import json
import math
from typing import Any


def write_record(log: Any, record: dict[str, Any]) -> None:
    """One JSON line; NaN and infinities become `null` (JSON has no such numbers)."""
    log.write(json.dumps(json_safe(record), allow_nan=False) + "\n")
    log.flush()


def json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def progress_bar(enabled: bool, *, initial: int, total: int) -> Any:
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True, leave=True)

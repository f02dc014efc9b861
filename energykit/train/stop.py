"""Stopping a run cleanly on SIGTERM (what a batch scheduler sends before it preempts) or
SIGINT (Ctrl-C): the loop finishes its step, writes `last.pt` and raises `TrainingStoppedError`;
`energykit train` prints one line naming the checkpoint and exits with 128 + the signal.
A second signal exits at once (the previous handler runs)."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from energykit._distributed import DistInfo, any_true

#: The signals that ask a run to stop.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class TrainingStoppedError(Exception):
    """`Trainer.fit` stopped by a signal after finishing a step (and saving it).

    Attributes:
        signum: The signal received.
        step: The last step taken.
        path: The checkpoint written at that step, or `None` for a run without an out dir.
    """

    def __init__(self, signum: int, step: int, path: Path | None) -> None:
        self.signum, self.step, self.path = signum, step, path
        name = signal.Signals(signum).name
        saved = f"saved {path}" if path is not None else "nothing saved (no out dir)"
        super().__init__(f"stopped by {name} after step {step}: {saved}")

    @property
    def exit_code(self) -> int:
        """The shell's convention for a process ended by a signal: 128 + its number."""
        return 128 + self.signum


class StopRequests:
    """While entered (in the main thread), SIGTERM and SIGINT set `signum` instead of ending
    the process; a second one restores the previous handlers and re-delivers itself, so
    the process ends as it would have. Outside the main thread nothing is installed."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopRequests:
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._restore()

    def _restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum = signum
            return
        self._restore()
        signal.raise_signal(signum)


def stop_agreed(stop: StopRequests, dist: DistInfo, *, synchronising: bool) -> bool:
    """Whether the run stops after this step: a signal arrived here (single process), or,
    under torchrun, on any rank, asked only at steps where the ranks already wait for each
    other (`synchronising`: log and checkpoint steps), so every rank stops at the same step."""
    if not dist.active:
        return stop.signum is not None
    return synchronising and any_true(stop.signum is not None, dist)


__all__ = ["STOP_SIGNALS", "StopRequests", "TrainingStoppedError", "stop_agreed"]

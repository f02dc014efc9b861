"""A progress bar over the steps of `Descender.run` (`Descender(progress=...)`).

No host read: the bar advances from the host's step counter, and its postfix (rows stopped on
`g_min`, rows frozen on NaN/inf) is refreshed only at read-backs, from the counts the host
read there anyway (`DescentState.n_converged`, `n_failed`), so a bar adds no device sync.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from energykit.descent.state import DescentState


class ProgressBar(Protocol):
    """What a progress factory returns: a tqdm-like bar."""

    def update(self, n: int) -> Any:
        """Advance the bar by `n` steps."""
        ...

    def set_postfix(self, **values: Any) -> Any:
        """Show `values` after the bar."""
        ...

    def close(self) -> Any:
        """Finish the bar."""
        ...


#: A factory called as `factory(total=steps)`, e.g. `tqdm.tqdm` or
#: `functools.partial(tqdm.tqdm, desc="sampling", leave=False)`.
ProgressFactory = Callable[..., ProgressBar]

#: What `Descender(progress=...)` accepts: off, on (a tqdm bar), or a factory.
Progress = bool | ProgressFactory


def tqdm_progress(what: str = "progress", **options: Any) -> ProgressFactory:
    """A factory of `tqdm.auto.tqdm` bars counting steps (labelled "descent" unless `options`
    say otherwise, e.g. `desc="batch 1/4", leave=False`).

    Raises:
        ImportError: tqdm is not installed (the message names `what`).
    """
    try:
        from tqdm.auto import tqdm
    except ImportError:
        raise ImportError(
            f"{what}: a progress bar needs tqdm (pip install tqdm); pass progress=False, or a "
            "factory of your own"
        ) from None
    settings = {"desc": "descent", "unit": "step", "dynamic_ncols": True, **options}

    def factory(total: int) -> ProgressBar:
        return tqdm(total=total, **settings)

    return factory


def check_progress(value: object) -> Progress:
    """`value` as a `Descender` progress setting; `True` fails here without tqdm.

    Raises:
        TypeError: neither a bool nor a callable.
        ImportError: `True` and tqdm is not installed.
    """
    if isinstance(value, bool):
        if value:
            tqdm_progress("Descender progress")
        return value
    if callable(value):
        return value
    raise TypeError(
        "Descender progress: expected True, False or a tqdm-like factory "
        f"(called as factory(total=steps)), got {type(value).__name__}"
    )


class StepBar:
    """A bar over the steps of one descent, fed from host-side counters only.

    Args:
        progress: `True` (tqdm) or a factory (see `ProgressFactory`).
        total: The step budget.
        can_stop: Whether rows can stop or freeze (then the postfix counts them).
    """

    def __init__(self, progress: Progress, total: int, can_stop: bool) -> None:
        factory = tqdm_progress("Descender progress") if progress is True else progress
        assert callable(factory)  # internal: `check_progress` refused the rest
        self.bar = factory(total=total)
        self.shown = 0
        self.counts: tuple[int, int] | None = None if can_stop else (0, 0)

    def advance(self, state: DescentState) -> None:
        """Move the bar to `state.step`; at a read-back, show the stopped and failed rows."""
        if state.step > self.shown:
            self.bar.update(state.step - self.shown)
            self.shown = state.step
        counts = (state.n_converged, state.n_failed)
        if state.checked == state.step and counts != self.counts:
            self.counts = counts
            self.bar.set_postfix(stopped=counts[0], failed=counts[1])

    def close(self) -> None:
        """Finish the bar."""
        self.bar.close()

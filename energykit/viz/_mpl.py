"""Lazy matplotlib import with a clear message when the `plot` extra is missing."""

from __future__ import annotations

from typing import Any

from energykit._extras import install_hint


def pyplot() -> Any:
    """`matplotlib.pyplot` on the non-interactive Agg backend."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError(f"energykit.viz needs matplotlib: {install_hint('plot')}") from err
    return plt

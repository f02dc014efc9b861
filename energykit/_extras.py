"""The distribution name on the package index and install hints for the optional extras.

The import name is `energykit`; the distribution is `energykit-eqm`, because the name
`energykit` on PyPI belongs to an unrelated project (load forecasting).
"""

from __future__ import annotations

#: The name `pip` installs this package under (`pyproject.toml`, `[project] name`).
DISTRIBUTION = "energykit-eqm"


def install_hint(extra: str) -> str:
    """The command that installs an optional extra, e.g. `pip install 'energykit-eqm[data]'`.

    Args:
        extra: an extra of `pyproject.toml` (`train`, `data`, `plot`, `latents`, ...).

    Returns:
        A shell command, quoted for POSIX shells.
    """
    return f"pip install '{DISTRIBUTION}[{extra}]'"

"""The distribution name on the package index and install hints for the optional extras.

The import name is `energykit`; the distribution is `energykit-eqm`, because the name
`energykit` on PyPI belongs to an unrelated project (load forecasting).
"""

from __future__ import annotations

#: The name `pip` installs this package under (`pyproject.toml`, `[project] name`).
DISTRIBUTION = "energykit-eqm"


def install_hint(extra: str) -> str:
    """How to install an optional extra: from a clone (the package is not on the index yet),
    e.g. `pip install -e '.[data]'` in the clone (published name: `energykit-eqm[data]`).

    Args:
        extra: an extra of `pyproject.toml` (`train`, `data`, `plot`, `latents`, ...).

    Returns:
        The shell command, quoted for POSIX shells, and the published name.
    """
    return f"pip install -e '.[{extra}]' in your energykit clone (published as '{DISTRIBUTION}')"

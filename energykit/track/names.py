"""The tracker names `train.track` accepts, parsed without importing any tracker."""

from __future__ import annotations

from energykit._config import ConfigError

#: The trackers energykit has built in, each an optional extra of the same name.
TRACKER_NAMES = ("tensorboard", "mlflow", "wandb")


def parse_track(text: str) -> tuple[str, ...]:
    """`train.track` as a tuple of tracker names: `"none"` (or empty) is `()`;
    `"tensorboard,mlflow"` is `("tensorboard", "mlflow")`.

    Raises:
        ConfigError: an unknown or repeated name; the message lists the choices.
    """
    if not isinstance(text, str):
        raise ConfigError(
            f"train.track: expected a string such as 'tensorboard,mlflow', got {text!r}"
        )
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if names in ((), ("none",)):
        return ()
    bad = [n for n in names if n not in TRACKER_NAMES]
    if bad or len(set(names)) != len(names):
        raise ConfigError(
            f"train.track: expected 'none' or comma-separated names from "
            f"{list(TRACKER_NAMES)} (each once), got {text!r}"
        )
    return names


__all__ = ["TRACKER_NAMES", "parse_track"]

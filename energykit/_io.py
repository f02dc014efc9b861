"""Safe file I/O: atomic writes, and loads that never execute code.

Writes: the payload goes to a temporary file in the same directory, is flushed and fsync'ed,
given the permissions an ordinary `open(path, "w")` would give (not `mkstemp`'s 0600), then
renamed over the target (`os.replace` is atomic on POSIX and Windows), and the directory entry
is fsync'ed where the platform allows it. A crash mid-write leaves only a `.NAME.*.tmp` file,
which `remove_stale_temps` deletes at the next start.

Loads: `load_torch` is `torch.load(weights_only=True)` (plus an explicit allowlist of extra
classes), and `load_npz` refuses pickled object arrays; every failure (a forbidden object, a
truncated, empty or foreign file) becomes one `UnreadableFileError` line that names the file
and never suggests `weights_only=False`.
"""

from __future__ import annotations

import os
import pickle
import re
import secrets
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, BinaryIO

import torch


class UnreadableFileError(ValueError):
    """A file could not be read as what it should be: empty, truncated, corrupt, of another
    format, or holding objects that energykit refuses to unpickle (it never runs code from a
    file). The message names the file and the reason in one line."""


def atomic_write(path: str | Path, write: Callable[[BinaryIO], Any]) -> Path:
    """Call `write(f)` on a temporary binary file in `path`'s directory, flush and fsync it,
    then rename it over `path` (and fsync the directory)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temp(path)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def atomic_save(payload: Any, path: str | Path) -> Path:
    """`torch.save` to a temporary file in `path`'s directory, then rename over `path`."""
    return atomic_write(path, lambda f: torch.save(payload, f))


def atomic_save_npy(array: Any, path: str | Path) -> Path:
    """`numpy.save` a contiguous copy of `array`, atomically."""
    import numpy as np

    data = np.ascontiguousarray(array)
    return atomic_write(path, lambda f: np.save(f, data))


def atomic_savez(path: str | Path, arrays: dict[str, Any]) -> Path:
    """`numpy.savez` the named arrays (uncompressed), atomically."""
    import numpy as np

    savez: Any = np.savez
    return atomic_write(path, lambda f: savez(f, **arrays))


def remove_stale_temps(directory: str | Path, targets: str) -> list[Path]:
    r"""Delete the temporary files that an interrupted `atomic_write` of a file whose name
    matches the regular expression `targets` left in `directory` (`.NAME.<8 hex>.tmp`);
    returns what was removed. Nothing else is touched. Call it only when no other process
    writes those files (e.g. at the start of a run, on the main rank).

    Example:
        `remove_stale_temps(run, r"last\.pt|step_\d+\.pt")`
    """
    directory = Path(directory)
    if not directory.is_dir():
        return []
    pattern = re.compile(rf"\.(?:{targets})\.[0-9a-f]{{{_TEMP_HEX}}}\.tmp")
    removed = []
    for tmp in directory.glob(".*.tmp"):
        if pattern.fullmatch(tmp.name) and tmp.is_file():
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def load_torch(
    path: str | Path,
    *,
    what: str,
    map_location: str | torch.device = "cpu",
    allow: Iterable[type] = (),
) -> Any:
    """`torch.load(path, weights_only=True)`: tensors, numbers, strings and containers only,
    plus exactly the classes in `allow`. Nothing in the file is ever executed.

    Args:
        path: The file.
        what: What the file should be, for messages (e.g. `"checkpoint"`).
        map_location: Where tensors go.
        allow: Extra classes the unpickler may build (e.g. `argparse.Namespace`).

    Raises:
        FileNotFoundError: no file at `path`.
        UnreadableFileError: empty, truncated or not a torch file, or it holds other objects.
    """
    path = _existing(path, what)
    try:
        with torch.serialization.safe_globals(list(allow)):
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        found = _FORBIDDEN.search(str(err))
        detail = f" ({found.group(1)})" if found else ""
        raise UnreadableFileError(
            f"{what} {str(path)!r}: refused: not a weights-only torch file (it asks to build "
            f"objects other than tensors and plain containers{detail}); energykit never runs "
            "code from a file"
        ) from None
    except Exception as err:  # garbage makes the unpickler raise almost anything
        if isinstance(err, (FileNotFoundError, PermissionError, IsADirectoryError)) or (
            isinstance(err, RuntimeError) and _NOT_THE_FILE.search(str(err))
        ):
            raise  # a good file that this machine cannot hold: not damage
        first = str(err).strip().split(". ")[0].splitlines()[0][:120] if str(err).strip() else ""
        if isinstance(err, KeyError) or not first:
            first = "unrecognised content"
        raise UnreadableFileError(
            f"{what} {str(path)!r}: not a readable torch file (truncated, corrupt or another "
            f"format: {first})"
        ) from None


def load_npz(path: str | Path, *, what: str, keys: Iterable[str] | None = None) -> dict[str, Any]:
    """The arrays of an `.npz` file (all, or those of `keys` it holds; the others are never
    read), with `allow_pickle=False`.

    Raises:
        FileNotFoundError: no file at `path`.
        UnreadableFileError: not a readable `.npz`, or it holds pickled object arrays.
    """
    import numpy as np

    path = _existing(path, what)
    try:
        with np.load(path, allow_pickle=False) as f:
            if not hasattr(f, "files"):
                raise ValueError("a single .npy array, not an .npz archive")
            names = f.files if keys is None else [k for k in keys if k in f.files]
            return {k: f[k] for k in names}
    except ValueError as err:
        reason = (
            "not an .npz archive of plain arrays (reading it would need unpickling)"
            if "allow_pickle" in str(err)
            else str(err)
        )
        raise UnreadableFileError(
            f"{what} {str(path)!r}: refused: {reason}; energykit never runs code from a file"
        ) from None
    except (OSError, EOFError, zipfile.BadZipFile) as err:
        raise UnreadableFileError(
            f"{what} {str(path)!r}: not a readable .npz file (truncated, corrupt or another "
            f"format: {str(err)[:160]})"
        ) from None


#: Hex digits of the random part of `atomic_write`'s temporary names (`.NAME.<hex>.tmp`).
_TEMP_HEX = 8
#: `torch.load` errors about this machine (memory, devices), not about the file's content.
_NOT_THE_FILE = re.compile(r"out of memory|CUDA|device|MPS|HIP", re.IGNORECASE)
#: The class named in a `weights_only` refusal, e.g. "GLOBAL posix.system".
_FORBIDDEN = re.compile(r"(?:unsupported )?(GLOBAL [\w.]+)", re.IGNORECASE)


def _existing(path: str | Path, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what}: no file at {str(path)!r}")
    if path.stat().st_size == 0:
        raise UnreadableFileError(f"{what} {str(path)!r}: the file is empty")
    return path


def _create_temp(path: Path) -> tuple[int, str]:
    """Create `.NAME.<8 hex>.tmp` beside `path` exclusively, with mode 0666 less the umask
    (what `open(path, "w")` gives; `tempfile.mkstemp` would give 0600)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = str(path.parent / f".{path.name}.{secrets.token_hex(_TEMP_HEX // 2)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:  # pragma: no cover - 2^-32 per attempt
            continue


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. Windows cannot open directories
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

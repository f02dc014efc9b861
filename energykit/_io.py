"""Safe file I/O: atomic writes, and loads that never execute code.

Writes: the payload goes to a temporary file in the same directory, is flushed and fsync'ed,
given the permissions an ordinary `open(path, "w")` would give (not `mkstemp`'s 0600), then
renamed over the target (`os.replace` is atomic on POSIX and Windows), and the directory entry
is fsync'ed where the platform allows it. A crash mid-write leaves only a `.NAME.*.tmp` file,
which `remove_stale_temps` deletes at the next start. A write that fails for lack of space
(`ENOSPC` anywhere in the error's chain, or torch's zip writer failing on a folder with almost
no space left) removes its temporary file, leaves the previous file untouched, and raises one
`DiskFullError` that names the file and says how much was needed or written and what is free.

Loads: `load_torch` is `torch.load(weights_only=True)` (plus an explicit allowlist of extra
classes), and `load_npz` refuses pickled object arrays; every failure (a forbidden object, a
truncated, empty or foreign file) becomes one `UnreadableFileError` line that names the file
and never suggests `weights_only=False`.
"""

from __future__ import annotations

import errno
import os
import pickle
import re
import secrets
import shutil
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, BinaryIO

import torch


class UnreadableFileError(ValueError):
    """A file could not be read as what it should be: empty, truncated, corrupt, of another
    format, or holding objects that energykit refuses to unpickle (it never runs code from a
    file). The message names the file and the reason in one line."""


class DiskFullError(OSError):
    """A file could not be written for lack of space on its disk (`errno.ENOSPC`). Nothing
    was replaced: the file already at `path`, if any, is intact, and no temporary is left.

    Attributes:
        path: The file that was being written.
        needed: Bytes the payload takes, when known before writing (`None` otherwise).
        written: Bytes of it written before the disk filled up, when known.
        free: Bytes free in the file's folder after the failure, when the system says.
        previous: Whether a file was already at `path` (it is unchanged).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        needed: int | None = None,
        written: int | None = None,
        free: int | None = None,
        previous: bool = False,
    ) -> None:
        self.path = Path(path)
        self.needed, self.written, self.free, self.previous = needed, written, free, previous
        amounts = []
        if needed is not None:
            amounts.append(f"needs {size_text(needed)}")
        elif written is not None:
            amounts.append(f"stopped after {size_text(written)}")
        if free is not None:
            amounts.append(f"{size_text(free)} free in {str(self.path.parent)!r}")
        detail = f" ({', '.join(amounts)})" if amounts else ""
        kept = "; the file already there is unchanged" if previous else ""
        message = f"{str(self.path)!r}: not written, the disk is full{detail}{kept}"
        super().__init__(errno.ENOSPC, message, str(self.path))

    def __str__(self) -> str:
        return str(self.strerror)


def size_text(n: int) -> str:
    """A byte count for messages: `512 B`, `3.1 MiB`, `2.0 GiB`."""
    if n < 1024:
        return f"{n} B"
    value, unit = n / 1024, "KiB"
    for bigger in ("MiB", "GiB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{value:.1f} {unit}"


def atomic_write(
    path: str | Path, write: Callable[[BinaryIO], Any], *, size: int | None = None
) -> Path:
    """Call `write(f)` on a temporary binary file in `path`'s directory, flush and fsync it,
    then rename it over `path` (and fsync the directory).

    Args:
        path: The file to write (its folder is created).
        write: Writes the payload to the open file.
        size: Bytes the payload takes, when known, for the `DiskFullError` message.

    Raises:
        DiskFullError: the disk filled up; the previous file is intact, the temp removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    existed = path.exists()
    fd, tmp = _create_temp(path)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        full = _disk_full(err, path, Path(tmp), size, existed)
        Path(tmp).unlink(missing_ok=True)
        if full is not None:
            raise full from err
        raise
    _fsync_dir(path.parent)
    return path


def atomic_save(payload: Any, path: str | Path) -> Path:
    """`torch.save` to a temporary file in `path`'s directory, then rename over `path`.

    Raises:
        DiskFullError: the disk filled up (see `atomic_write`).
    """
    return atomic_write(path, lambda f: torch.save(payload, f))


def atomic_save_npy(array: Any, path: str | Path) -> Path:
    """`numpy.save` a contiguous copy of `array`, atomically (see `atomic_write`)."""
    import numpy as np

    data = np.ascontiguousarray(array)
    return atomic_write(path, lambda f: np.save(f, data), size=data.nbytes)


def atomic_savez(path: str | Path, arrays: dict[str, Any]) -> Path:
    """`numpy.savez` the named arrays (uncompressed), atomically (see `atomic_write`)."""
    import numpy as np

    savez: Any = np.savez
    size = sum(int(np.asarray(a).nbytes) for a in arrays.values())
    return atomic_write(path, lambda f: savez(f, **arrays), size=size)


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


#: torch's zip writer failing mid-file (it reports a short write this way, e.g. when the disk
#: is full: "[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598", or
#: "PytorchStreamWriter failed writing file data/0: file write failed").
_TORCH_WRITE = re.compile(r"inline_container\.cc.*unexpected pos|PytorchStreamWriter failed writ")
#: Below this many free bytes a failed torch write is taken for a full disk. A short write
#: fills the disk to within a block, so a folder with more free space failed for another reason.
_NEARLY_FULL = 1 << 20
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


def _disk_full(
    err: BaseException, path: Path, tmp: Path, size: int | None, existed: bool
) -> DiskFullError | None:
    """The `DiskFullError` that `err` (raised while writing `tmp` for `path`) means, or `None`
    when it failed for another reason. The sizes are read before `tmp` is removed."""
    free = _free_bytes(path.parent)
    nearly_full = free is not None and free < _NEARLY_FULL
    torch_short_write = isinstance(err, RuntimeError) and bool(_TORCH_WRITE.search(str(err)))
    if not (_has_enospc(err) or (torch_short_write and nearly_full)):
        return None
    try:
        written: int | None = tmp.stat().st_size
    except OSError:
        written = None
    return DiskFullError(path, needed=size, written=written, free=free, previous=existed)


def _has_enospc(err: BaseException | None) -> bool:
    """Whether `err` or an error it was raised from or during is `ENOSPC`."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, OSError) and err.errno == errno.ENOSPC:
            return True
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return False


def _free_bytes(folder: Path) -> int | None:
    """Bytes free to this user in `folder` (`shutil.disk_usage`), `None` when unknown."""
    try:
        return int(shutil.disk_usage(folder).free)
    except OSError:
        return None


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

"""One protocol for work cut into shards and written to a folder by every `torchrun` rank:
sharded sampling (`energykit sample`) and latent encoding (`energykit latents`).

A run is `n_shards` independent pieces of work; rank `r` of `w` does shards
`j = r (mod w)`, each written as atomic files, so a restarted run skips what is finished
and redoes what is not (a process killed mid-write leaves only a `.NAME.<hex>.tmp` temp,
never a half-written shard). The caller does one shard (the step); `ShardPlan` owns
everything around it (the loop's protocol):

```python
plan = ShardPlan(folder, n_shards, settings, dist, files=FILES, is_done=is_done)
plan.guard()                         # main rank: clean temps, refuse other settings; barrier
for j in plan.pending():             # this rank's unfinished shards
    result = work(j)                 # the step: may take long, may fail
    plan.commit(lambda: save(j, result))   # guard file first (once), then the shard
records = plan.join(load)            # barrier; on the main rank every shard, in order
```

Settings guard: `folder/<files.settings>` records the settings of the run that wrote the
shards, and a run with other settings is refused with a one-line error naming each setting
that differs. The guard file is written just before the first shard is committed, never at
the start: a run that fails before finishing any shard leaves no guard behind, so the next
run may use other settings; and since it precedes every shard, no shard exists unguarded. A
guard file with no finished shard beside it (the first shard's write failed, e.g. on a full
disk) is removed rather than obeyed.

A write that fails for lack of space raises `energykit._io.DiskFullError`; the finished shards
stay in the folder, so rerunning the same command once space is freed resumes the run.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from energykit._distributed import DistInfo, barrier
from energykit._io import atomic_write, remove_stale_temps

T = TypeVar("T")

#: A differing setting whose value prints longer than this is named without its values
#: (e.g. a list of 1,000 class names), so the refusal stays one readable line.
_MAX_VALUE_CHARS = 40


@dataclass(frozen=True)
class ShardFiles:
    """How one kind of shard folder names its files and words its refusals.

    Attributes:
        settings: Name of the settings guard file in the folder, e.g. `"settings.json"`.
        targets: Regular expression of every name written atomically in the folder (shards,
            markers, the guard file); stale temps of these are removed at the start.
        label: Prefix of messages, e.g. `"sample"` or `"latents --out"`.
        items: What the shards are called in messages, e.g. `"batches"`.
        remedy: What to do when the settings differ.
        indent: JSON indent of the guard file (`None`: one line).
    """

    settings: str
    targets: str
    label: str
    items: str = "shards"
    remedy: str = "use a new folder or rerun with the same settings"
    indent: int | None = None


class ShardPlan:
    """The shards of one run in `folder`, and this rank's part of them (see the module doc).

    Args:
        folder: Where the shards are written (created by the first commit).
        n_shards: Number of shards, indices `0 .. n_shards - 1`.
        settings: JSON-able settings that must match for finished shards to be reused.
        dist: This process's rank; `None` for one process.
        files: File names and message wording of this kind of folder.
        is_done: Whether shard `j` is finished (complete and trustworthy); a shard it
            rejects is redone.
        sync: Waits for every rank; `None` uses `torch.distributed`'s barrier.

    Raises:
        ValueError: `n_shards` is negative.
    """

    def __init__(
        self,
        folder: str | Path,
        n_shards: int,
        settings: Mapping[str, Any],
        dist: DistInfo | None = None,
        *,
        files: ShardFiles,
        is_done: Callable[[int], bool],
        sync: Callable[[], None] | None = None,
    ) -> None:
        if n_shards < 0:
            raise ValueError(f"ShardPlan n_shards: expected >= 0, got {n_shards}")
        self.folder = Path(folder)
        self.n_shards = n_shards
        self.settings: dict[str, Any] = json.loads(json.dumps(dict(settings)))
        self.dist = dist or DistInfo()
        self.files = files
        self.is_done = is_done
        self._sync = sync
        self._guarded = False

    @property
    def settings_path(self) -> Path:
        """The settings guard file."""
        return self.folder / self.files.settings

    def guard(self) -> None:
        """Prepare the run on every rank: the main rank removes stale temps of interrupted
        writes and refuses a folder holding shards of other settings; then all ranks wait.

        Raises:
            ValueError: the folder's guard file records other settings (main rank).
        """
        if self.dist.is_main:
            remove_stale_temps(self.folder, self.files.targets)
            self.check_settings()
        self.barrier()

    def check_settings(self) -> None:
        """Refuse a folder whose guard file records other settings than this run's, unless
        it guards no finished shard (then it is a failed run's leftover and is removed).

        Raises:
            ValueError: one line naming every setting that differs, old -> new.
        """
        if not self.settings_path.is_file():
            return
        old = json.loads(self.settings_path.read_text())
        diff = settings_diff(old, self.settings) or (old != self.settings and "layout differs")
        if diff and not any(self.is_done(j) for j in range(self.n_shards)):
            self.settings_path.unlink()  # guards no finished shard (a failed run's leftover)
            return
        if diff:
            f = self.files
            raise ValueError(
                f"{f.label} {str(self.folder)!r}: holds {f.items} of another run ({diff}); "
                f"{f.remedy}"
            )
        self._guarded = True

    def pending(self) -> list[int]:
        """This rank's unfinished shards: `j = rank (mod world size)`, in order."""
        return [
            j
            for j in range(self.dist.rank, self.n_shards, self.dist.world_size)
            if not self.is_done(j)
        ]

    def commit(self, write: Callable[[], T]) -> T:
        """Write a finished shard: the guard file first (once), then `write()` (which must
        write atomically, ending with what `is_done` checks); returns what `write` returns.

        Raises:
            DiskFullError: the guard file could not be written for lack of space (and what
                `write` raises, e.g. the same error for the shard).
        """
        if not self._guarded:
            if not self.settings_path.is_file():
                text = json.dumps(self.settings, indent=self.files.indent).encode()
                atomic_write(self.settings_path, lambda f: f.write(text), size=len(text))
            self._guarded = True
        return write()

    def join(self, load: Callable[[int], T]) -> list[T] | None:
        """Wait for every rank; then, on the main rank, `load(j)` of every shard in index
        order (`None` on the other ranks).

        Raises:
            RuntimeError: a shard is still unfinished after every rank is done.
        """
        self.barrier()
        if not self.dist.is_main:
            return None
        missing = [j for j in range(self.n_shards) if not self.is_done(j)]
        if missing:
            raise RuntimeError(
                f"{self.files.label}: {self.files.items} {missing[:10]} of "
                f"{str(self.folder)!r} are missing after every rank finished"
            )
        return [load(j) for j in range(self.n_shards)]

    def barrier(self) -> None:
        """Wait for every rank (no-op on one process)."""
        if self._sync is not None:
            self._sync()
        else:
            barrier(self.dist)


def settings_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """The settings that differ, as `"key: old -> new, ..."` (nested keys joined by `.`,
    long values named only); empty when they match."""
    a, b = _flatten(old), _flatten(new)
    parts = []
    for key in sorted(a.keys() | b.keys()):
        if a.get(key, _MISSING) != b.get(key, _MISSING):
            was, now = repr(a.get(key, _MISSING)), repr(b.get(key, _MISSING))
            if max(len(was), len(now)) > _MAX_VALUE_CHARS:
                parts.append(f"{key} differs")
            else:
                parts.append(f"{key}: {was} -> {now}")
    return ", ".join(parts)


class _Missing:
    def __repr__(self) -> str:
        return "<unset>"


_MISSING = _Missing()


def _flatten(settings: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in settings.items():
        if isinstance(value, Mapping):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


__all__ = ["ShardFiles", "ShardPlan", "settings_diff"]

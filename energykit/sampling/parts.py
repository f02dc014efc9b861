"""The parts folder of a sampling run writing `OUT`: `.OUT.parts/` beside it, one atomic file
`NNNNNN.pt` per finished batch and the `settings.json` guard (`energykit._shards`).

The folder is the run's resumable work: `sample_to_file` removes it only after joining every
batch into `OUT`, so a run stopped by an error (a full disk, an interrupt) keeps it, and the
same command resumes from the finished batches.
"""

from __future__ import annotations

import re
from pathlib import Path

from energykit._shards import ShardFiles

#: The files of a parts folder and the wording of its refusals.
PART_FILES = ShardFiles(
    settings="settings.json",
    targets=r"\d{6}\.pt|settings\.json",
    label="sample",
    items="batches",
    remedy="delete it or rerun with the same settings to resume",
)

#: The name of a finished batch's file.
_PART_NAME = re.compile(r"\d{6}\.pt")


def parts_folder(out: str | Path) -> Path:
    """The folder `.OUT.parts/` beside `out` where the batches of a run writing `out` go."""
    out = Path(out)
    return out.parent / f".{out.name}.parts"


def part_file(parts: Path, j: int) -> Path:
    """The file of batch `j` in the parts folder `parts`."""
    return parts / f"{j:06d}.pt"


def finished_parts(out: str | Path) -> list[Path]:
    """The finished batch files of a run writing `out`, in batch order (empty without a
    parts folder)."""
    folder = parts_folder(out)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.pt") if _PART_NAME.fullmatch(p.name))


__all__ = ["PART_FILES", "finished_parts", "part_file", "parts_folder"]

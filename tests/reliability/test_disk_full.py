"""A full disk: the atomic writers keep the previous file and no temp, and raise one
`DiskFullError` naming the file; `energykit train` and `energykit sample` exit 2 with one line
that also says what is left intact (checkpoints; the sample parts folder, kept to resume).

No disk is filled: the writes are made to fail as a full tmpfs makes them fail, with `ENOSPC`
from the file's `write`, or with the `RuntimeError` torch's zip writer raises on a short write.
"""

from __future__ import annotations

import errno
import io
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

from energykit import _io
from energykit._io import DiskFullError, atomic_save, atomic_write, size_text
from energykit.cli import main

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "toy2d" / "eqm.yaml"
TINY = ["net.width=16", "net.depth=1", "train.batch=8", "--no-progress"]
#: What torch 2.x raises when the file object under its zip writer stops accepting bytes.
TORCH_SHORT_WRITE = "[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598"


class _Capped(io.RawIOBase):
    """A writable file that accepts `room` bytes, then raises `ENOSPC` like a full disk."""

    def __init__(self, fd: int, room: int) -> None:
        self.file = io.FileIO(fd, "wb")
        self.room = room

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        data = bytes(data)
        if len(data) > self.room:
            self.file.write(data[: self.room])
            self.room = 0
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(data)
        return int(self.file.write(data) or 0)

    def fileno(self) -> int:
        return self.file.fileno()

    def close(self) -> None:
        self.file.close()
        super().close()


def fill_disk(monkeypatch: pytest.MonkeyPatch, room: int = 100, free: int = 0) -> None:
    """Make every atomic write see a disk with `room` bytes left (and `free` reported after)."""
    monkeypatch.setattr(_io.os, "fdopen", lambda fd, mode: io.BufferedWriter(_Capped(fd, room)))
    usage = shutil.disk_usage("/")
    monkeypatch.setattr(_io.shutil, "disk_usage", lambda path: usage._replace(free=free))


def temps(folder: Path) -> list[Path]:
    return sorted(folder.glob(".*.tmp"))


def test_a_full_disk_keeps_the_previous_checkpoint(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "last.pt"
    atomic_save({"step": 1, "w": torch.ones(3)}, path)
    before = path.read_bytes()
    fill_disk(monkeypatch, free=4096)
    with pytest.raises(DiskFullError) as caught:
        atomic_save({"step": 2, "w": torch.zeros(10_000)}, path)
    err = caught.value
    assert isinstance(err, OSError) and err.errno == errno.ENOSPC
    assert err.path == path and err.free == 4096 and err.written == 100
    assert str(path) in str(err) and "the disk is full" in str(err)
    assert "stopped after 100 B, 4.0 KiB free" in str(err)
    assert "unchanged" in str(err)
    assert path.read_bytes() == before
    assert temps(tmp_path) == []


def test_torch_short_write_on_a_nearly_full_disk(tmp_path: Path, monkeypatch) -> None:
    """torch's own error (no `ENOSPC` in its chain) counts when the folder has no room left."""

    def short_write(payload: Any, f: Any) -> None:
        f.write(b"PK" * 50)
        raise RuntimeError(TORCH_SHORT_WRITE)

    monkeypatch.setattr(_io.torch, "save", short_write)
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(_io.shutil, "disk_usage", lambda p: usage._replace(free=0))
    path = tmp_path / "step_0000002.pt"
    with pytest.raises(DiskFullError, match=r"step_0000002\.pt.*disk is full") as caught:
        atomic_save({"w": torch.zeros(4)}, path)
    assert caught.value.written == 100 and not path.exists() and temps(tmp_path) == []
    assert "unchanged" not in str(caught.value)  # there was no file before


def test_torch_short_write_with_room_left_is_not_a_full_disk(tmp_path: Path, monkeypatch) -> None:
    def short_write(payload: Any, f: Any) -> None:
        raise RuntimeError(TORCH_SHORT_WRITE)

    monkeypatch.setattr(_io.torch, "save", short_write)
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(_io.shutil, "disk_usage", lambda p: usage._replace(free=10 << 30))
    with pytest.raises(RuntimeError, match="inline_container") as caught:
        atomic_save({"w": torch.zeros(4)}, tmp_path / "x.pt")
    assert not isinstance(caught.value, DiskFullError)
    assert temps(tmp_path) == []


def test_bytes_writes_say_how_much_was_needed(tmp_path: Path, monkeypatch) -> None:
    fill_disk(monkeypatch, room=10, free=10)
    data = b"x" * 5000
    with pytest.raises(DiskFullError, match=r"needs 4\.9 KiB, 10 B free") as caught:
        atomic_write(tmp_path / "settings.json", lambda f: f.write(data), size=len(data))
    assert caught.value.needed == 5000 and temps(tmp_path) == []


def test_other_write_errors_pass_through(tmp_path: Path) -> None:
    def broken(f: Any) -> None:
        raise OSError(errno.EIO, "Input/output error")

    with pytest.raises(OSError) as caught:
        atomic_write(tmp_path / "x.bin", broken)
    assert not isinstance(caught.value, DiskFullError) and caught.value.errno == errno.EIO
    assert temps(tmp_path) == []


@pytest.mark.parametrize(
    ("n", "text"), [(0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (3 << 20, "3.0 MiB")]
)
def test_size_text(n: int, text: str) -> None:
    assert size_text(n) == text


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    capsys.readouterr()
    status = main(argv)
    return status, capsys.readouterr().err.strip().splitlines()


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-step toy run with checkpoints at steps 1 and 2."""
    out = tmp_path_factory.mktemp("disk") / "run"
    steps = ["train.steps=2", "train.ckpt_every=1", "train.keep_every=1"]
    assert main(["train", str(RECIPE), "--out", str(out), *steps, *TINY]) == 0
    return out


def test_train_on_a_full_disk(run: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    out = tmp_path / "run"
    shutil.copytree(run, out)
    before = (out / "last.pt").read_bytes()
    fill_disk(monkeypatch)
    argv = ["train", str(RECIPE), "--out", str(out), "train.steps=3", "train.ckpt_every=1"]
    status, lines = run_cli([*argv, *TINY], capsys)
    assert status == 2, lines
    assert lines[0].startswith("training eqm"), lines  # the run's header, then one error line
    assert len(lines) == 2, lines
    line = lines[1]
    assert line.startswith("energykit train: error: "), line
    assert "the disk is full" in line and "last.pt': not written" in line, line
    assert "intact checkpoints" in line and "last.pt (step 2)" in line, line
    assert "step_0000001.pt (step 1)" in line and "rerun" in line, line
    assert "unexpected" not in line and "RuntimeError" not in line, line
    assert (out / "last.pt").read_bytes() == before
    assert temps(out) == []


def test_sample_on_a_full_disk_keeps_the_parts(run: Path, tmp_path: Path, monkeypatch, capsys):
    out = tmp_path / "s.pt"
    sample = ["sample", str(run / "last.pt"), "--out", str(out), "--steps", "2", "--no-progress"]
    argv = [*sample, "--n", "12", "--batch", "4"]
    real = _io.atomic_write
    writes: list[Path] = []

    def third_batch_fills_the_disk(path: Any, write: Any, *, size: int | None = None) -> Path:
        writes.append(Path(path))
        if Path(path).name == "000002.pt":
            fill_disk(monkeypatch)
        return real(path, write, size=size)

    monkeypatch.setattr(_io, "atomic_write", third_batch_fills_the_disk)
    status, lines = run_cli(argv, capsys)
    assert status == 2, lines
    assert len(lines) == 1, lines
    line = lines[0]
    parts = tmp_path / ".s.pt.parts"
    assert line.startswith("energykit sample: error: "), line
    assert "000002.pt" in line and "the disk is full" in line, line
    assert f"the 2 finished batch(es) in {str(parts)!r} are kept" in line, line
    assert "rerun the same command to resume" in line, line
    assert sorted(p.name for p in parts.glob("*.pt")) == ["000000.pt", "000001.pt"]
    assert temps(parts) == [] and not out.exists()

    monkeypatch.undo()  # space freed: the same command resumes from the two batches
    writes.clear()

    def recorded(path: Any, write: Any, *, size: int | None = None) -> Path:
        writes.append(Path(path))
        return real(path, write, size=size)

    monkeypatch.setattr(_io, "atomic_write", recorded)
    assert main(argv) == 0
    assert [p.name for p in writes] == ["000002.pt", "s.pt"]
    assert out.is_file() and not parts.exists()


def test_other_writes_on_a_full_disk_are_one_line(monkeypatch, capsys) -> None:
    """A plain `ENOSPC` (a PNG, a log line: not an atomic write) still names the file."""
    from energykit import cli

    def full(args: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device", "p.png")

    monkeypatch.setattr(cli, "cmd_plot", full)
    status, lines = run_cli(["plot", "x.pt", "--out", "p.png"], capsys)
    assert (status, lines) == (
        2,
        [
            "energykit plot: error: 'p.png': not written, the disk is full; free space and rerun "
            "the command"
        ],
    )

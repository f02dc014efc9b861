"""The shard protocol shared by sharded sampling and latent encoding (`energykit._shards`):
rank striding, skipping finished shards, the settings guard, join order, stale temps and
half-written shards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from energykit._distributed import DistInfo
from energykit._io import atomic_write
from energykit._shards import ShardFiles, ShardPlan, settings_diff

FILES = ShardFiles(settings="settings.json", targets=r"\d{3}\.bin|settings\.json", label="test")


def _shard(folder: Path, j: int) -> Path:
    return folder / f"{j:03d}.bin"


def _plan(folder: Path, n: int = 5, dist: DistInfo | None = None, **settings) -> ShardPlan:
    """A plan whose shard `j` is finished when `NNN.bin` holds exactly its 8-byte payload (so
    a truncated file is redone)."""
    return ShardPlan(
        folder,
        n,
        settings or {"a": 1},
        dist,
        files=FILES,
        is_done=lambda j: _shard(folder, j).is_file() and _shard(folder, j).stat().st_size == 8,
        sync=lambda: None,
    )


def _write(plan: ShardPlan, j: int) -> None:
    plan.commit(
        lambda: atomic_write(_shard(plan.folder, j), lambda f: f.write(j.to_bytes(8, "little")))
    )


def _run(plan: ShardPlan) -> list[int]:
    """One rank's run: guard, every pending shard, join; returns the shards it wrote."""
    plan.guard()
    wrote = plan.pending()
    for j in wrote:
        _write(plan, j)
    return wrote


@pytest.mark.parametrize("world", [1, 2, 3])
def test_ranks_stride_the_shards_and_cover_each_once(tmp_path, world):
    n = 7
    plans = [_plan(tmp_path, n, DistInfo(r, world, r)) for r in range(world)]
    assert [p.pending() for p in plans] == [list(range(r, n, world)) for r in range(world)]
    wrote = sorted(j for p in plans for j in _run(p))
    assert wrote == list(range(n))


def test_join_loads_every_shard_in_index_order_on_the_main_rank_only(tmp_path):
    world = 3
    plans = [_plan(tmp_path, 7, DistInfo(r, world, r)) for r in range(world)]
    for p in reversed(plans):  # the last rank finishes first: order must not depend on it
        _run(p)
    load = lambda j: int.from_bytes(_shard(tmp_path, j).read_bytes(), "little")  # noqa: E731
    assert plans[1].join(load) is None and plans[2].join(load) is None
    assert plans[0].join(load) == list(range(7))


def test_a_restart_skips_finished_shards(tmp_path):
    first = _plan(tmp_path)
    first.guard()
    _write(first, 0)
    _write(first, 3)
    before = _shard(tmp_path, 0).stat().st_mtime_ns
    assert _run(_plan(tmp_path)) == [1, 2, 4]
    assert _shard(tmp_path, 0).stat().st_mtime_ns == before


def test_join_refuses_a_missing_shard(tmp_path):
    plan = _plan(tmp_path, 3)
    plan.guard()
    _write(plan, 0)
    with pytest.raises(RuntimeError, match=r"test: shards \[1, 2\] of .* are missing"):
        plan.join(lambda j: j)


def test_other_settings_are_refused_in_one_line_naming_what_differs(tmp_path):
    _run(_plan(tmp_path, 2, a=1, b={"lr": 0.1, "steps": 3}, names=["x"] * 20))
    with pytest.raises(ValueError) as info:
        _plan(tmp_path, 2, a=1, b={"lr": 0.2, "steps": 3}, names=["y"] * 20).guard()
    msg = str(info.value)
    assert "\n" not in msg
    assert "holds shards of another run (b.lr: 0.1 -> 0.2, names differs)" in msg
    assert msg.endswith("use a new folder or rerun with the same settings")
    _plan(tmp_path, 2, a=1, b={"lr": 0.1, "steps": 3}, names=["x"] * 20).guard()  # same: fine


def test_settings_diff_names_added_and_removed_settings():
    assert settings_diff({"a": 1}, {"a": 1}) == ""
    assert settings_diff({"a": 1}, {"a": 1, "b": 2}) == "b: <unset> -> 2"
    assert settings_diff({"a": (1, 2)}, {"a": [1, 2]}) == "a: (1, 2) -> [1, 2]"


def test_the_guard_file_is_written_with_the_first_shard_not_at_the_start(tmp_path):
    plan = _plan(tmp_path, 2, a=1)
    plan.guard()
    assert not (tmp_path / "settings.json").exists()  # a run failing here leaves no guard
    _plan(tmp_path, 2, a=2).guard()  # ... so other settings are still welcome
    _write(plan, 1)
    assert json.loads((tmp_path / "settings.json").read_text()) == {"a": 1}
    with pytest.raises(ValueError, match="a: 1 -> 2"):
        _plan(tmp_path, 2, a=2).guard()


def test_a_half_written_shard_is_redone_and_stale_temps_are_removed(tmp_path):
    plan = _plan(tmp_path, 3)
    plan.guard()
    _write(plan, 0)
    # Killed mid-write: a truncated shard file (e.g. copied by hand) and an atomic-write temp.
    _shard(tmp_path, 1).write_bytes(b"\x00\x01")
    temp = tmp_path / ".002.bin.0123abcd.tmp"
    temp.write_bytes(b"partial")
    keep = tmp_path / ".notes.txt.0123abcd.tmp"  # not one of the plan's files: untouched
    keep.write_bytes(b"x")
    assert _run(_plan(tmp_path, 3)) == [1, 2]
    assert not temp.exists() and keep.exists()
    assert _shard(tmp_path, 1).read_bytes() == (1).to_bytes(8, "little")


def test_only_the_main_rank_guards(tmp_path):
    _run(_plan(tmp_path, 2, a=1))
    temp = tmp_path / ".000.bin.0123abcd.tmp"
    temp.write_bytes(b"")
    _plan(tmp_path, 2, DistInfo(1, 2, 1), a=2).guard()  # rank 1 neither checks nor cleans
    assert temp.exists()
    with pytest.raises(ValueError, match="a: 1 -> 2"):
        _plan(tmp_path, 2, DistInfo(0, 2, 0), a=2).guard()


def test_negative_shard_count_is_refused(tmp_path):
    with pytest.raises(ValueError, match="n_shards: expected >= 0, got -1"):
        _plan(tmp_path, -1)


def test_a_guard_file_without_any_finished_shard_is_a_leftover_and_removed(tmp_path):
    # Older versions wrote the guard at the start, so a run that failed at once left it alone.
    tmp_path.joinpath("settings.json").write_text(json.dumps({"a": 1}))
    _shard(tmp_path, 0).write_bytes(b"\x00")  # half-written: not a finished shard
    assert _run(_plan(tmp_path, 2, a=2)) == [0, 1]
    assert json.loads((tmp_path / "settings.json").read_text()) == {"a": 2}

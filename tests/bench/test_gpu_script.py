"""The dry run of `benchmarks/gpu.py` (the prepared GPU table): every section on tiny sizes on
the CPU, so that the one GPU run cannot fail on a typo. No timing asserts."""

from __future__ import annotations

import torch

from benchmarks import gpu
from benchmarks.harness import measure_group


def test_tiny_dry_run_prints_every_section(tmp_path, capsys):
    out = tmp_path / "gpu.md"
    text = gpu.main(["--tiny", "--device", "cpu", "--strict", "--out", str(out)])
    assert out.read_text() == text
    assert "| case | base | other |" in text
    for row in (
        "EqM-B/2 train, batch 8: Trainer fp32 / bare fp32",
        "EqM-B/2 train, batch 4: Trainer bf16 / bare bf16",
        "EqM-B/2 train, batch 8: bare bf16 compiled / bare bf16",
        "EqM-E (dot) / EqM",
        "Descender / hand loop (DiT)",
        "bf16 net / fp32, hand loop",
        "descent 5 steps, NAG-GD: MLP 2-256-256-2",
        "4 bindings of EqM-S/2, B=8",
        "EqM-XL/2 train, batch 4: Trainer fp32 / bare fp32",
        "EqM-B/2 train, batch 4: bare fp32 compiled / bare fp32",
    ):
        assert row in text, row
    # Only features still being built may fail (they are noted, not raised).
    for line in text.splitlines():
        if "failed:" in line:
            assert "Descender, bf16 net" in line or "autocast" in line or "dtype" in line, line
    if gpu.has_train_compile():
        assert "Trainer bf16 compiled / bare bf16 compiled" in text
    else:
        assert "`train.compile` is not available in this checkout" in text


def test_budget_guard_skips_sections_and_still_prints_the_table(capsys):
    text = gpu.main(["--tiny", "--device", "cpu", "--budget-s", "0"])
    assert text.count("skipped: estimated") == len(gpu.sections(_ctx())) > 5
    assert "| case |" in text


def _ctx() -> gpu.Ctx:
    return gpu.Ctx(gpu.TINY, torch.device("cpu"), latents=None, strict=True)  # type: ignore[arg-type]


def test_cuda_paths_sync_and_track_memory(monkeypatch):
    """The CUDA-only branches (synchronise, peak memory) on fake counters."""
    calls: list[str] = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *a: calls.append("sync"))
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda *a: 100)
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda *a: calls.append("reset"))
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda *a: 100 + 2**30)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: calls.append("empty"))
    ctx = gpu.Ctx(gpu.TINY, torch.device("cuda"), latents=None, strict=True)  # type: ignore[arg-type]
    v = gpu.Variant(lambda: calls.append("run"), 1.0, lambda: [torch.zeros(3)])
    group = gpu.time_group(ctx, {"a": v})
    assert v.peak == 1.0 and len(group.seconds["a"]) == gpu.TINY.rounds
    assert calls[:4] == ["sync", "reset", "run", "sync"]
    gpu.free(ctx)
    assert calls[-1] == "empty"


def test_measure_group_interleaves_and_records_failures():
    calls: list[str] = []

    def boom() -> None:
        raise ValueError("no")

    group = measure_group(
        {"a": lambda: calls.append("a"), "b": lambda: calls.append("b"), "c": boom}, 3
    )
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b"]
    assert group.failed == {"c": "ValueError: no"} and "c" not in group.seconds
    assert group.ratio("a", "b")[1] <= group.ratio("a", "b")[0]

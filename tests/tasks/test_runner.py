"""The tasks study runner end to end, tiny (`run_tasks.py --quick`)."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
RUNNER = Path(__file__).resolve().parents[2] / "recipes" / "tasks" / "run_tasks.py"


def test_quick_run_writes_every_table_and_figure(tmp_path, monkeypatch):
    monkeypatch.setenv("ENERGYKIT_CACHE", str(tmp_path / "cache"))
    results = runpy.run_path(str(RUNNER))["main"](["--out", str(tmp_path), "--quick"])
    assert [r["level"] for r in results["denoise"]["digits"]["rows"]] == [1.0, 0.75, 0.5, 0.25, 0.0]
    assert set(results["ood"]["table"]["EqM-E dot: energy"]) >= {"inverted digits", "average"}
    assert {r["composition"] for r in results["compose"]["rows"]} >= {"3 + 8", "0 alone"}
    assert 0.0 <= results["inpaint"]["mnist"]["accuracy"]["EqM inpainted"] <= 1.0
    text = (tmp_path / "report.md").read_text()
    for heading in ("Partial denoising", "Out-of-distribution", "Composition", "Inpainting"):
        assert f"## {heading}" in text
    pngs = {p.name for p in tmp_path.glob("*.png")}
    assert pngs == {
        "denoise-digits.png",
        "denoise-mnist.png",
        "compose-digits.png",
        "inpaint-digits.png",
        "inpaint-mnist.png",
    }

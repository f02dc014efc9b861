"""The recipes' report code reads results by their metric names (`fid_proxy`, never `fid`)."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_study_tables_read_metrics_by_name():
    tables = runpy.run_path(str(ROOT / "recipes/study/tables.py"))
    assert tables["_metric"]({"fid_proxy": 2.5}, "fid_proxy") == 2.5
    assert tables["_metric"]({"fid": 3.5}, "fid_proxy") is None  # no other name is read
    assert tables["_metric"]({"fid_proxy": 2.5, "diverged": "nan"}, "fid_proxy") is None
    assert tables["_floor"]({}, "fid_proxy") != tables["_floor"]({}, "fid_proxy")  # nan


def test_tasks_report_reads_fid_proxy():
    tasks = runpy.run_path(str(ROOT / "recipes/tasks/run_tasks.py"))
    assert "_fid_proxy" not in tasks
    old = {"n": 1, "rows": [{"level": 0.5, "input": {"fid": 1.0, "psnr": 2.0}}]}
    with pytest.raises(KeyError, match="fid_proxy"):
        tasks["report"]({"denoise": {"digits": old}})

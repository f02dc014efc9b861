"""Result files written before `fid` became `fid_proxy` still read back in the recipes."""

from __future__ import annotations

import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_study_tables_read_old_and_new_keys():
    tables = runpy.run_path(str(ROOT / "recipes/study/tables.py"))
    assert tables["_metric"]({"fid": 3.5}, "fid_proxy") == 3.5  # an old result
    assert tables["_metric"]({"fid_proxy": 2.5, "fid": 9.0}, "fid_proxy") == 2.5
    assert tables["_metric"]({"fid_proxy": 2.5, "diverged": "nan"}, "fid_proxy") is None
    assert tables["_floor"]({}, "fid_proxy") != tables["_floor"]({}, "fid_proxy")  # nan


def test_tasks_report_reads_old_and_new_keys():
    tasks = runpy.run_path(str(ROOT / "recipes/tasks/run_tasks.py"))
    assert tasks["_fid_proxy"]({"fid": 4.0, "psnr": 1.0}) == 4.0
    assert tasks["_fid_proxy"]({"fid_proxy": 5.0, "psnr": 1.0}) == 5.0

"""The docs site ships its maths renderer: no CDN script, MathJax copied in at build time."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("mkdocs")
yaml = pytest.importorskip("yaml")


def _hook():
    path = ROOT / "tools" / "mkdocs_mathjax.py"
    spec = importlib.util.spec_from_file_location("mkdocs_mathjax", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("mkdocs_mathjax", module)
    spec.loader.exec_module(module)
    return module


def test_mkdocs_yml_loads_no_remote_asset():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    hook = _hook()
    assets = config.get("extra_javascript", []) + config.get("extra_css", [])
    assert not [a for a in assets if re.match(r"(https?:)?//", str(a))], assets
    assert f"{hook.TARGET}/{hook.SCRIPT}" in config["extra_javascript"]
    assert "tools/mkdocs_mathjax.py" in config["hooks"]
    assert config["theme"].get("font") is False  # no Google Fonts request


def test_hook_copies_mathjax_and_its_fonts(tmp_path):
    pytest.importorskip("mathjax", reason="the docs extra (django-static-mathjax)")
    from mkdocs.config.defaults import MkDocsConfig
    from mkdocs.structure.files import Files

    hook = _hook()
    config = MkDocsConfig(config_file_path=str(ROOT / "mkdocs.yml"))
    config.load_dict({"site_name": "t", "docs_dir": str(ROOT / "docs"), "site_dir": str(tmp_path)})
    errors, _ = config.validate()
    assert not errors
    config.plugins._current_plugin = None  # mkdocs sets it while it runs hooks during a build
    for file in hook.on_files(Files([]), config):
        file.copy_file()
    shipped = tmp_path / hook.TARGET
    assert (shipped / hook.SCRIPT).stat().st_size > 1_000_000
    assert len(list((shipped / hook.FONTS).glob("*.woff"))) >= 20
    assert "Apache License" in (shipped / "LICENSE").read_text()

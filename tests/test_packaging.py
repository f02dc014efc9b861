"""The distribution name and every install hint agree (`energykit` on PyPI is another project)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from energykit._extras import DISTRIBUTION, install_hint

ROOT = Path(__file__).resolve().parents[1]
tomllib = pytest.importorskip("tomllib")

# `pip install energykit` or `pip install 'energykit[...]'`, but not `energykit-eqm`.
_WRONG_HINT = re.compile(r"pip install\s+['\"]?energykit(?![-\w])")


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_distribution_name_matches_pyproject():
    assert _project()["name"] == DISTRIBUTION
    assert DISTRIBUTION != "energykit"


def test_self_referencing_extras_use_the_distribution_name():
    for extra, reqs in _project()["optional-dependencies"].items():
        for req in reqs:
            name = re.split(r"[\[<>=!~; ]", req, maxsplit=1)[0]
            assert name != "energykit", f"extra {extra!r} requires {req!r}"


def test_install_hint_names_the_extra():
    assert install_hint("data") == (
        f"pip install -e '.[data]' in your energykit clone (published as '{DISTRIBUTION}')"
    )


def _text_files() -> list[Path]:
    files = [ROOT / "README.md", *(ROOT / "docs").rglob("*.md")]
    for folder in ("energykit", "benchmarks", "recipes"):
        files += (ROOT / folder).rglob("*.py")
        files += (ROOT / folder).rglob("*.md")
    return files


def test_no_install_hint_names_the_other_project():
    wrong = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in _text_files()
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if _WRONG_HINT.search(line)
    ]
    assert not wrong, "\n".join(wrong)


def test_citation_and_licence_match_pyproject():
    yaml = pytest.importorskip("yaml")
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    project = _project()
    assert str(citation["version"]) == project["version"]
    assert citation["license"] == project["license"] == "Apache-2.0"
    (paper,) = citation["references"]
    assert paper["url"] == "https://arxiv.org/abs/2510.02300"
    licence = (ROOT / "LICENSE").read_text()
    assert "Apache License" in licence and "Version 2.0, January 2004" in licence

"""The code in the README and the docs runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def _blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


def test_readme_example_runs(capsys):
    (block,) = _blocks(ROOT / "README.md")
    assert "field = model_a + 0.5 * model_b" in block
    assert "Descender(field, torch.optim.Adam" in block
    torch.manual_seed(0)
    exec(compile(block, "README.md", "exec"), {})
    assert "torch.Size([1000, 2])" in capsys.readouterr().out


def test_getting_started_runs_in_order():
    # The page's blocks form one session: train briefly, then sample (fewer steps for speed).
    code = "\n".join(_blocks(ROOT / "docs" / "getting-started.md")[:2])
    code = code.replace("range(3000)", "range(30)")
    scope: dict[str, object] = {}
    exec(compile(code, "getting-started.md", "exec"), scope)
    assert scope["samples"].shape == (2000, 2)  # type: ignore[attr-defined]


def test_own_network_page_runs_verbatim(tmp_path, monkeypatch, capsys):
    (block,) = _blocks(ROOT / "docs" / "own-network.md")
    monkeypatch.chdir(tmp_path)  # the example writes runs/ring
    scope: dict[str, object] = {}
    exec(compile(block, "own-network.md", "exec"), scope)
    model, result = scope["model"], scope["result"]
    assert model.step == 300 and model.config.net.kind == "custom"  # type: ignore[attr-defined]
    assert scope["samples"].x.shape == (500, 2)  # type: ignore[attr-defined]
    for radius in (scope["radius"], result.x.norm(dim=1)):  # type: ignore[attr-defined]
        assert abs(float(radius.mean()) - 2.0) < 0.3  # type: ignore[attr-defined]
    assert (tmp_path / "runs" / "ring" / "last.pt").is_file()
    assert "mean radius" in capsys.readouterr().out


@pytest.mark.parametrize("page", ["index.md", "descent.md"])
def test_doc_snippets_reference_real_names(page):
    import energykit as ek

    text = (ROOT / "docs" / page).read_text()
    for name in set(re.findall(r"ek\.([A-Za-z_.]+)\(", text)):
        obj: object = ek
        for part in name.split("."):
            obj = getattr(obj, part)
        assert callable(obj), name

"""The one Markdown table writer: exact text, alignment, escaping and refused shapes."""

from __future__ import annotations

import pytest

from energykit.viz import markdown_table


def test_markdown_table_exact_text():
    text = markdown_table(["sampler", "nfe", "mmd"], [["nag", 250, "0.1"], ["gd", None, 0.5]])
    assert text == (
        "| sampler | nfe | mmd |\n|---|---|---|\n| nag | 250 | 0.1 |\n| gd | - | 0.5 |\n"
    )


def test_markdown_table_alignment_and_escaped_pipes():
    text = markdown_table(
        ["a", "b", "c", "d"], [["x|y", 1, 2, 3]], ["left", "right", "center", None]
    )
    assert text == "| a | b | c | d |\n|:---|---:|:---:|---|\n| x\\|y | 1 | 2 | 3 |\n"


def test_markdown_table_without_rows_is_header_and_rule():
    assert markdown_table(["only"], []) == "| only |\n|---|\n"


@pytest.mark.parametrize(
    ("header", "rows", "align", "match"),
    [
        ([], [], None, "at least one column"),
        (["a", "b"], [["1"]], None, r"rows\[0\]: expected 2 cells"),
        (["a", "b"], [], ["left"], "align: expected 2 entries"),
        (["a"], [], ["middle"], "align: expected 'left'"),
    ],
)
def test_markdown_table_refuses_bad_shapes(header, rows, align, match):
    with pytest.raises(ValueError, match=match):
        markdown_table(header, rows, align)

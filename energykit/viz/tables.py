"""Markdown tables: the one writer behind every report, study and benchmark table."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

Align = Literal["left", "right", "center"]

_RULES: dict[Align | None, str] = {None: "---", "left": ":---", "right": "---:", "center": ":---:"}


def markdown_table(
    header: Sequence[str],
    rows: Iterable[Sequence[object]],
    align: Sequence[Align | None] | None = None,
) -> str:
    """A GitHub-flavoured Markdown table, one line per row, ending in a newline.

    ```python
    markdown_table(["sampler", "nfe"], [["nag", 250], ["gd", None]])
    # '| sampler | nfe |\\n|---|---|\\n| nag | 250 |\\n| gd | - |\\n'
    ```

    Cells are written with `str()`, `None` as `-`, and a `|` inside a cell is escaped, so
    format numbers before passing them (e.g. `f"{v:.3g}"`).

    Args:
        header: Column titles.
        rows: One sequence of cells per row, each as long as `header`.
        align: Per column `"left"`, `"right"`, `"center"` or `None` (the renderer's default);
            `None` for all columns leaves every column at the default.

    Returns:
        The table: header line, rule line, then the rows, each ending in `"\\n"`.

    Raises:
        ValueError: `header` is empty, or a row or `align` is not as long as `header`.
    """
    if not header:
        raise ValueError("markdown_table header: expected at least one column, got none")
    width = len(header)
    rules = [None] * width if align is None else list(align)
    if len(rules) != width:
        raise ValueError(f"markdown_table align: expected {width} entries, got {len(rules)}")
    bad = [a for a in rules if a not in _RULES]
    if bad:
        raise ValueError(
            f"markdown_table align: expected 'left', 'right', 'center' or None, got {bad[0]!r}"
        )
    lines = [_line(header), "|" + "".join(_RULES[a] + "|" for a in rules)]
    for i, row in enumerate(rows):
        if len(row) != width:
            raise ValueError(
                f"markdown_table rows[{i}]: expected {width} cells (one per header column), "
                f"got {len(row)}"
            )
        lines.append(_line(row))
    return "\n".join(lines) + "\n"


def _line(cells: Sequence[object]) -> str:
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def _cell(value: object) -> str:
    return "-" if value is None else str(value).replace("|", "\\|")

"""The one plain-text table formatter: aligned columns, numbers to four significant figures."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


def format_cell(value: Any, number: str = ".4g") -> str:
    """A float to `number` format (NaN and None as an empty cell); anything else as `str`."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return format(value, number) if isinstance(value, float) else str(value)


def format_table(
    columns: Sequence[str] | None, rows: Iterable[Sequence[Any]], title: str | None = None, number: str = ".4g"
) -> str:
    """Rows of cells under `columns` (None: no header line), the first column left-aligned, numbers right-aligned."""
    text = [[format_cell(v, number) for v in row] for row in rows]
    numeric = [[isinstance(v, (int, float)) and not isinstance(v, bool) for v in row] for row in rows]
    header = list(columns) if columns is not None else None
    width_of = [header, *text] if header else text
    widths = [max(len(r[i]) for r in width_of if i < len(r)) for i in range(max(len(r) for r in width_of))]

    def line(cells: list[str], right: list[bool]) -> str:
        aligned = enumerate(zip(cells, widths, right, strict=False))  # a short row leaves its last cells empty
        out = [c.rjust(w) if r and i else c.ljust(w) for i, (c, w, r) in aligned]
        return "  ".join(out).rstrip()

    lines = [title, "-" * len(title)] if title else []
    if header:
        lines += [line(header, [i > 0 for i in range(len(header))]), "-" * sum(w + 2 for w in widths)]
    lines += [line(cells, right) for cells, right in zip(text, numeric, strict=True)]
    return "\n".join(lines)


__all__ = ["format_cell", "format_table"]

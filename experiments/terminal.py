"""Text tables for a terminal (端末表示): columns aligned when cells hold Japanese text.

A terminal draws East Asian wide and fullwidth characters (漢字, かな, 全角 punctuation such as
（）) in two columns, so `str.ljust` misaligns them; these helpers measure the displayed width with
`unicodedata.east_asian_width`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence


def display_width(text: str) -> int:
    """Columns `text` takes in a terminal: 2 for wide and fullwidth characters, 0 for combining marks, else 1."""
    width = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def pad(text: str, width: int, align: str = "<") -> str:
    """`text` padded with spaces to `width` display columns, left ('<') or right ('>') aligned."""
    fill = " " * max(width - display_width(text), 0)
    return text + fill if align == "<" else fill + text


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]], align: str = "", gap: int = 2) -> str:
    """A table of text cells with aligned columns; `align` gives '<' or '>' per column (default: the
    first column left, the others right). Rows of one cell are printed across the table (a rule or a
    section title)."""
    n = len(headers)
    align = align or "<" + ">" * (n - 1)
    cells = [list(headers), *[list(r) for r in rows if len(r) == n]]
    widths = [max(display_width(c[j]) for c in cells) for j in range(n)]
    sep = " " * gap

    def line(row: Sequence[str]) -> str:
        return sep.join(pad(cell, widths[j], align[j]) for j, cell in enumerate(row)).rstrip()

    out = [line(headers), sep.join("-" * w for w in widths)]
    for row in rows:
        out.append(line(row) if len(row) == n else row[0])
    return "\n".join(out)

"""Edits on text: applying non-overlapping edits, and which fixes' edits conflict or touch."""

from __future__ import annotations

import re
from typing import Iterable

from leaflint.findings import Edit, Fix, Position

LINE_BREAK = re.compile(r"\r\n|\r|\n")


def line_starts(text: str) -> list[int]:
    return [0] + [m.end() for m in LINE_BREAK.finditer(text)]


def _offset(starts: list[int], text: str, position: Position) -> int:
    if position.row > len(starts):
        return len(text)
    line_end = starts[position.row] if position.row < len(starts) else len(text)
    return min(starts[position.row - 1] + position.column - 1, line_end)


def apply_edits(text: str, edits: Iterable[Edit]) -> str:
    """``text`` with non-overlapping ``edits`` applied (identical edits count once)."""
    starts = line_starts(text)
    spans = sorted({(_offset(starts, text, e.start), _offset(starts, text, e.end), e.content) for e in edits},
                   key=lambda s: (s[0], s[1]), reverse=True)
    out = text
    for start, end, content in spans:
        out = out[:start] + content + out[end:]
    return out


def spans(text: str, starts: list[int], fix: Fix) -> list[tuple[int, int, str]]:
    return [(_offset(starts, text, e.start), _offset(starts, text, e.end), e.content) for e in fix.edits]


def conflict(a: list[tuple[int, int, str]], b: list[tuple[int, int, str]]) -> bool:
    """Whether two fixes' edits overlap or insert at the same point."""
    for sa, ea, ca in a:
        for sb, eb, cb in b:
            if (sa, ea, ca) == (sb, eb, cb):
                continue  # the same edit (e.g. the same import added): applied once
            if sa == ea == sb == eb:
                return True  # two insertions at one point: their order is ambiguous
            if sa < eb and sb < ea:
                return True
            if sa == ea and sb < sa < eb or sb == eb and sa < sb < ea:
                return True
    return False


def adjacent(a: list[tuple[int, int, str]], b: list[tuple[int, int, str]], text: str) -> bool:
    """Whether two fixes' edits touch across a line break: the later one then waits for the next
    round, where it is recomputed on the new text (a statement right below a ``with
    torch.no_grad():`` block added for the one above joins that block)."""
    breaks = ("\n", "\r\n", "\r")
    return any(ea < sb and text[ea:sb] in breaks or eb < sa and text[eb:sa] in breaks
               for sa, ea, _ in a for sb, eb, _ in b)

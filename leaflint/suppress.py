"""Suppression comments: ``# noqa``, ``# noqa: LL101``, ``# leaflint: ignore[LL101]``,
and the file-level ``# leaflint: noqa`` / ``# leaflint: noqa: LL2`` on a line of its own."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

_LINE = re.compile(
    r"#\s*(?:noqa(?P<noqa>\s*:\s*[A-Za-z0-9,\s]+)?|leaflint\s*:\s*ignore(?:\[(?P<ignore>[A-Za-z0-9,\s]*)\])?)",
    re.IGNORECASE,
)
# A noqa comment with codes (``# noqa: E501, LL101``): where --add-noqa adds its codes.
NOQA_CODES = re.compile(r"#\s*noqa\s*:(?P<codes>\s*[A-Za-z0-9]+(?:[,\s]+[A-Za-z0-9]+)*)", re.IGNORECASE)
_FILE = re.compile(r"^\s*#\s*leaflint\s*:\s*noqa(?:\s*:\s*(?P<codes>[A-Za-z0-9,\s]+))?\s*$", re.IGNORECASE)
_ALL = None  # marker: every code


def _codes(text: Optional[str]) -> Optional[frozenset[str]]:
    if text is None:
        return _ALL
    codes = frozenset(c.strip().upper() for c in re.split(r"[,\s]+", text.lstrip(":").strip()) if c.strip())
    return codes or _ALL


@dataclass
class Suppressions:
    lines: dict[int, Optional[frozenset[str]]] = field(default_factory=dict)
    file: Optional[frozenset[str]] = frozenset()  # empty: nothing suppressed file-wide; None: all

    def suppresses(self, code: str, rows: tuple[int, ...]) -> bool:
        if self.file is None or _covered(code, self.file):
            return True
        for row in rows:
            if row in self.lines:
                codes = self.lines[row]
                if codes is None or _covered(code, codes):
                    return True
        return False


def _covered(code: str, selectors: frozenset[str]) -> bool:
    return any(code.startswith(s) for s in selectors)


def parse(text: str) -> Suppressions:
    result = Suppressions()
    if "#" not in text:
        return result
    file_codes: set[str] = set()
    for row, line in enumerate(text.splitlines(), start=1):
        if "#" not in line:
            continue
        whole = _FILE.match(line)
        if whole is not None:
            codes = _codes(whole.group("codes"))
            if codes is None:
                result.file = None
                return result
            file_codes.update(codes)
            continue
        match = _LINE.search(line)
        if match is None:
            continue
        if match.group(0).lower().lstrip("# ").startswith("noqa"):
            result.lines[row] = _codes(match.group("noqa"))
        else:
            result.lines[row] = _codes(match.group("ignore"))
    result.file = frozenset(file_codes)
    return result

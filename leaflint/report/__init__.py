"""Output formats. Each formatter takes the sorted findings (and keyword options: ``files``, the
checked files; ``color``, ANSI colours for a terminal) and returns the text to print."""

from __future__ import annotations

from typing import Callable, Optional, Sequence

from leaflint.findings import Finding
from leaflint.report import github, junit, sarif, structured, text

Formatter = Callable[..., str]

FORMATTERS: dict[str, Formatter] = {
    "concise": text.concise,
    "full": text.full,
    "grouped": text.grouped,
    "json": structured.json_list,
    "json-lines": structured.json_lines,
    "sarif": sarif.sarif,
    "github": github.github,
    "junit": junit.junit,
}


def render(name: str, findings: list[Finding], files: Optional[Sequence[str]] = None, color: bool = False,
           unsafe_fixes: bool = False) -> str:
    """``unsafe_fixes``: the run applies unsafe fixes too (text formats mark them with ``[*]``)."""
    return FORMATTERS[name](findings, files=files, color=color, unsafe_fixes=unsafe_fixes)

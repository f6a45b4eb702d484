"""Output formats. Each formatter takes the sorted findings (and keyword options: ``files``, the
checked files; ``color``, ANSI colours for a terminal) and returns the text to print.

A format's module is imported when it is used (``--version`` and a run that prints concise
output never load the XML or SARIF writers)."""

from __future__ import annotations

import importlib
from typing import Callable, Optional, Sequence

from leaflint.findings import Finding

Formatter = Callable[..., str]

# format name -> (module under leaflint.report, function)
FORMATS: dict[str, tuple[str, str]] = {
    "concise": ("text", "concise"),
    "full": ("text", "full"),
    "grouped": ("text", "grouped"),
    "json": ("structured", "json_list"),
    "json-lines": ("structured", "json_lines"),
    "sarif": ("sarif", "sarif"),
    "github": ("github", "github"),
    "junit": ("junit", "junit"),
}


FORMATTERS = tuple(FORMATS)  # the format names, for --output-format


def formatter(name: str) -> Formatter:
    """The format's function (its module imported now)."""
    module, function = FORMATS[name]
    return getattr(importlib.import_module(f"leaflint.report.{module}"), function)


def render(name: str, findings: list[Finding], files: Optional[Sequence[str]] = None, color: bool = False,
           unsafe_fixes: bool = False) -> str:
    """``unsafe_fixes``: the run applies unsafe fixes too (text formats mark them with ``[*]``)."""
    return formatter(name)(findings, files=files, color=color, unsafe_fixes=unsafe_fixes)

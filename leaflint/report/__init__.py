"""Output formats. Each formatter takes the sorted findings and returns the text to print."""

from __future__ import annotations

from typing import Callable

from leaflint.findings import Finding
from leaflint.report import text, structured

Formatter = Callable[[list[Finding]], str]

FORMATTERS: dict[str, Formatter] = {
    "concise": text.concise,
    "full": text.full,
    "json": structured.json_list,
}


def render(name: str, findings: list[Finding]) -> str:
    return FORMATTERS[name](findings)

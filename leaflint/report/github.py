"""GitHub Actions workflow commands: one ``::error`` annotation a finding.

``::error title=leaflint (LL101),file=bad.py,line=4,col=1,endLine=4,endColumn=10::bad.py:4:1: LL101 ...``

Values are escaped as the Actions runner expects: ``%``, CR and LF everywhere, and also ``:``
and ``,`` inside properties. A notebook finding points at its place in the ``.ipynb`` JSON text
(the line GitHub shows in the diff); the message carries the cell position.
"""

from __future__ import annotations

from leaflint.findings import Finding
from leaflint.report.text import location


def escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def _position(finding: Finding) -> list[tuple[str, int]]:
    start = (finding.location.row, finding.location.column)
    end = (finding.end_location.row, finding.end_location.column)
    if finding.cell is not None:
        from leaflint.notebook import raw_location

        start = raw_location(finding.filename, finding.cell, *start)
        if start is None:
            return []  # the file-level annotation is better than a wrong line
        end = raw_location(finding.filename, finding.cell, *end) or start
    fields = [("line", start[0]), ("col", start[1])]
    if end > start:
        fields += [("endLine", end[0]), ("endColumn", end[1])]
    return fields


def annotation(finding: Finding) -> str:
    properties = [("title", f"leaflint ({finding.code})"), ("file", finding.filename)] + _position(finding)
    text = ",".join(f"{key}={escape_property(str(value))}" for key, value in properties)
    message = f"{location(finding)}: {finding.code} {finding.message}"
    return f"::error {text}::{escape_data(message)}"


def github(findings: list[Finding], **_options) -> str:
    return "".join(annotation(f) + "\n" for f in findings)

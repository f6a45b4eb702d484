"""Machine-readable formats."""

from __future__ import annotations

import json

from leaflint.findings import Finding


def json_list(findings: list[Finding], **_options) -> str:
    return json.dumps([f.to_dict() for f in findings], indent=2) + "\n"


def json_lines(findings: list[Finding], **_options) -> str:
    """One JSON object a line, the same objects as ``json``."""
    return "".join(json.dumps(f.to_dict(), ensure_ascii=False) + "\n" for f in findings)

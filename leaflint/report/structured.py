"""Machine-readable formats."""

from __future__ import annotations

import json

from leaflint.findings import Finding


def json_list(findings: list[Finding]) -> str:
    return json.dumps([f.to_dict() for f in findings], indent=2) + "\n"

"""The `# expect: CODE` markers of the fixtures, shared by the marker and probe tests."""

from __future__ import annotations

import re
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
MARKER = re.compile(r"#\s*expect:\s*(?P<codes>LL\d{3}(?:\s*,\s*LL\d{3})*)")


def fixture_files() -> list[Path]:
    return sorted(p for p in FIXTURES.glob("*.py") if not p.name.startswith("_"))


def expected_markers(path: Path) -> set[tuple[int, str]]:
    expected = set()
    for row, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = MARKER.search(line)
        if match:
            for code in match.group("codes").split(","):
                expected.add((row, code.strip()))
    return expected

"""Human-readable formats: ``concise`` (one line a finding) and ``full`` (with the source)."""

from __future__ import annotations

from functools import lru_cache

from leaflint.findings import Finding


def location(finding: Finding) -> str:
    if finding.cell is not None:
        return f"{finding.filename}:cell {finding.cell}:{finding.location.row}:{finding.location.column}"
    return f"{finding.filename}:{finding.location.row}:{finding.location.column}"


def headline(finding: Finding) -> str:
    mark = " [*]" if finding.fix is not None else ""
    return f"{location(finding)}: {finding.code}{mark} {finding.message}"


def concise(findings: list[Finding]) -> str:
    return "".join(headline(f) + "\n" for f in findings)


@lru_cache(maxsize=64)
def _lines(filename: str) -> tuple[str, ...]:
    try:
        with open(filename, encoding="utf-8", errors="replace") as handle:
            return tuple(handle.read().splitlines())
    except OSError:
        return ()


def snippet(finding: Finding, lines: tuple[str, ...]) -> str:
    row = finding.location.row
    if not 1 <= row <= len(lines):
        return ""
    line = lines[row - 1].expandtabs(1) if "\t" in lines[row - 1] else lines[row - 1]
    start = finding.location.column
    end = finding.end_location.column if finding.end_location.row == row else len(line) + 1
    width = max(1, end - start)
    gutter = " " * len(str(row))
    return (f"{gutter} |\n{row} | {line}\n{gutter} | {' ' * (start - 1)}{'^' * width}\n")


def full(findings: list[Finding]) -> str:
    out = []
    for finding in findings:
        out.append(headline(finding) + "\n")
        if finding.cell is None:
            out.append(snippet(finding, _lines(finding.filename)))
        if finding.fix is not None:
            out.append(f"  = help: {finding.fix.message} ({finding.fix.applicability} fix)\n")
        out.append("\n")
    return "".join(out)

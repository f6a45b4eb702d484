"""Human-readable formats: ``concise`` (one line a finding), ``grouped`` (the same, under each
file's name, as ruff's) and ``full`` (with the source, the full explanation and the fix)."""

from __future__ import annotations

from functools import lru_cache

from leaflint.findings import Finding

# ANSI styles, used only when the caller asks (a terminal, NO_COLOR unset).
BOLD, RED, CYAN, BLUE, RESET = "\033[1m", "\033[31m", "\033[36m", "\033[34m", "\033[0m"


def _style(text: str, style: str, color: bool) -> str:
    return f"{style}{text}{RESET}" if color else text


def location(finding: Finding, color: bool = False) -> str:
    sep = _style(":", CYAN, color)
    name = _style(finding.filename, BOLD, color)
    if finding.cell is not None:
        return f"{name}{sep}cell {finding.cell}{sep}{finding.location.row}{sep}{finding.location.column}"
    return f"{name}{sep}{finding.location.row}{sep}{finding.location.column}"


def headline(finding: Finding, color: bool = False, unsafe_fixes: bool = False) -> str:
    """``[*]`` marks a finding whose fix ``--fix`` applies (a safe one; an unsafe one too with
    ``--unsafe-fixes``), as in ruff."""
    return f"{location(finding, color)}{_style(':', CYAN, color)} {_code_and_message(finding, color, unsafe_fixes)}"


def _code_and_message(finding: Finding, color: bool, unsafe_fixes: bool) -> str:
    fixable = finding.fix is not None and (unsafe_fixes or finding.fix.applicability == "safe")
    mark = " " + _style("[*]", CYAN, color) if fixable else ""
    return f"{_style(finding.code, BOLD + RED, color)}{mark} {finding.message}"


def concise(findings: list[Finding], color: bool = False, unsafe_fixes: bool = False, **_options) -> str:
    return "".join(headline(f, color, unsafe_fixes) + "\n" for f in findings)


def grouped(findings: list[Finding], color: bool = False, unsafe_fixes: bool = False, **_options) -> str:
    """ruff's ``grouped``: each file's name on a line of its own, then its findings indented as
    ``row:col CODE message`` (``cell N:row:col`` in notebooks), the positions aligned; a blank
    line after each file."""
    out: list[str] = []
    by_file: dict[str, list[Finding]] = {}
    for finding in findings:
        by_file.setdefault(finding.filename, []).append(finding)
    for filename, found in by_file.items():
        out.append(_style(filename, BOLD, color) + _style(":", CYAN, color) + "\n")
        places = [(f"cell {f.cell}:" if f.cell is not None else "") + f"{f.location.row}:{f.location.column}"
                  for f in found]
        width = max(len(place) for place in places)
        for finding, place in zip(found, places):
            out.append(f"  {place.ljust(width)} {_code_and_message(finding, color, unsafe_fixes)}\n")
        out.append("\n")
    return "".join(out)


@lru_cache(maxsize=64)
def _lines(filename: str) -> tuple[str, ...]:
    try:
        with open(filename, encoding="utf-8", errors="replace") as handle:
            return tuple(handle.read().splitlines())
    except OSError:
        return ()


def snippet(finding: Finding, lines: tuple[str, ...], color: bool = False) -> str:
    row = finding.location.row
    if not 1 <= row <= len(lines):
        return ""
    line = lines[row - 1].expandtabs(1) if "\t" in lines[row - 1] else lines[row - 1]
    start = finding.location.column
    end = finding.end_location.column if finding.end_location.row == row else len(line) + 1
    width = max(1, end - start)
    gutter = " " * len(str(row))
    bar = _style("|", BLUE, color)
    carets = _style("^" * width, RED, color)
    return (f"{gutter} {bar}\n{_style(str(row), BLUE, color)} {bar} {line}\n{gutter} {bar} {' ' * (start - 1)}{carets}\n")


def _source_lines(finding: Finding) -> tuple[str, ...]:
    if finding.cell is None:
        return _lines(finding.filename)
    from leaflint.notebook import cell_sources  # only for notebooks

    return cell_sources(finding.filename).get(finding.cell, ())


def full(findings: list[Finding], color: bool = False, unsafe_fixes: bool = False, **_options) -> str:
    out = []
    for finding in findings:
        out.append(headline(finding, color, unsafe_fixes) + "\n")
        out.append(snippet(finding, _source_lines(finding), color))
        if finding.detail:
            out.append(f"  = note: {finding.detail}\n")
        if finding.fix is not None:
            out.append(f"  = help: {finding.fix.message} ({finding.fix.applicability} fix)\n")
        out.append("\n")
    return "".join(out)

"""The rounds of fixing one text: apply every non-overlapping applicable fix, re-lint the
result with the same rules, keep the round only if the result parses, each fixed finding is
gone and no finding is new; a fix that fails that check is dropped (with the reason) and the
others are retried, up to ``MAX_ROUNDS`` rounds or until nothing changes."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

from leaflint.findings import Applicability, Finding, Fix
from leaflint.fix.edits import LINE_BREAK, adjacent, apply_edits, conflict, line_starts, spans

MAX_ROUNDS = 100
SYNTAX_ERROR = "LL001"

Lint = Callable[[str], list]  # text -> findings (module coordinates)


def applicable(fix: Optional[Fix], unsafe: bool) -> bool:
    return fix is not None and (fix.applicability is Applicability.SAFE or unsafe)


@dataclass
class Rejected:
    finding: Finding  # where it was when the fix was tried
    reason: str

    def describe(self) -> str:
        f = self.finding
        where = f"{f.filename}:cell {f.cell}:" if f.cell is not None else f"{f.filename}:"
        return f"fix for {f.code} at {where}{f.location.row}:{f.location.column} not applied: {self.reason}"


def _key(finding: Finding) -> tuple[str, str]:
    return finding.code, finding.message


def _identity(finding: Finding, text_lines: Sequence[str]) -> tuple:
    row = finding.location.row
    line = text_lines[row - 1].strip() if 1 <= row <= len(text_lines) else ""
    return finding.code, finding.message, line


def verify(before: Sequence[Finding], after: Sequence[Finding], fixed: Sequence[Finding]) -> Optional[str]:
    """Why the re-linted ``after`` is not what fixing ``fixed`` among ``before`` should give."""
    for finding in after:
        if finding.code == SYNTAX_ERROR:
            return f"the fixed code does not parse ({finding.message})"
    expected = Counter(_key(f) for f in before)
    expected.subtract(Counter(_key(f) for f in fixed))
    got = Counter(_key(f) for f in after)
    for finding in fixed:
        if got[_key(finding)] > expected[_key(finding)]:
            return "re-linting the fixed code still reports it"
    for finding in after:
        if got[_key(finding)] > expected[_key(finding)]:
            return f"the fixed code would have a new finding, {finding.code}: {finding.message}"
    return None


@dataclass
class TextFix:
    text: str
    applied: list[Finding]
    rejected: list[Rejected]
    remaining: list[Finding]


def fix_text(text: str, lint: Lint, unsafe: bool, max_rounds: int = MAX_ROUNDS) -> TextFix:
    """Apply the fixes of ``lint(text)``'s findings (safe ones, and unsafe ones if ``unsafe``)."""
    applied: list[Finding] = []
    rejected: list[Rejected] = []
    refused: set[tuple] = set()
    findings = lint(text)
    for _ in range(max_rounds):
        lines = LINE_BREAK.split(text)
        candidates = [f for f in findings if applicable(f.fix, unsafe) and _identity(f, lines) not in refused]
        if not candidates:
            break
        starts = line_starts(text)
        chosen: list[tuple[Finding, list]] = []
        earlier: list[list] = []
        for finding in sorted(candidates, key=Finding.sort_key):
            mine = spans(text, starts, finding.fix)
            if not any(conflict(mine, other) for _, other in chosen) \
                    and not any(adjacent(mine, other, text) for other in earlier):
                chosen.append((finding, mine))
            earlier.append(mine)
        batch = [f for f, _ in chosen]
        new_text = apply_edits(text, [e for f in batch for e in f.fix.edits])
        new_findings = lint(new_text)
        if verify(findings, new_findings, batch) is None:
            text, findings = new_text, new_findings
            applied.extend(batch)
            continue
        # find the culprits one at a time; keep the first good one for this round
        kept = None
        for finding in batch:
            alone = apply_edits(text, finding.fix.edits)
            alone_findings = lint(alone)
            why = verify(findings, alone_findings, [finding])
            if why is None:
                if kept is None:
                    kept = (finding, alone, alone_findings)
                continue
            refused.add(_identity(finding, lines))
            rejected.append(Rejected(finding, why))
        if kept is not None:
            applied.append(kept[0])
            text, findings = kept[1], kept[2]
    return TextFix(text, applied, rejected, findings)

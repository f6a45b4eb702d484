"""leaflint's findings and edits as LSP values: diagnostics, text edits, code actions, hovers.

leaflint counts rows and columns from 1, columns in characters; LSP counts lines and characters
from 0, characters in the position encoding agreed at initialisation (UTF-16 unless the client
offers another). ``Lines`` converts one document's positions.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable, Optional, Sequence

from lsprotocol import types

from leaflint.findings import Edit, Finding, Position
from leaflint.rules import REGISTRY
from leaflint.server.documents import Problem, split_lines

SOURCE = "leaflint"
FIX_ALL_KIND = "source.fixAll.leaflint"
UNSAFE_MARK = " (unsafe)"


class Lines:
    """One document's text, for converting positions both ways. ``units(text)`` counts a
    string in the client's position encoding (pygls's position codec)."""

    def __init__(self, text: str, units: Callable[[str], int]) -> None:
        self.text = text
        self.lines = split_lines(text)
        self._units = units

    def position(self, position: Position) -> types.Position:
        """A leaflint position (clamped to the text) as an LSP position."""
        row = min(max(position.row, 1), len(self.lines))
        line = self.lines[row - 1]
        column = min(max(position.column, 1), len(line) + 1)
        return types.Position(line=row - 1, character=self._units(line[:column - 1]))

    def range(self, start: Position, end: Position) -> types.Range:
        return types.Range(start=self.position(start), end=self.position(end))

    def leaflint(self, position: types.Position) -> Position:
        """An LSP position as a leaflint one (the character that the client's units reach)."""
        row = min(max(position.line, 0), len(self.lines) - 1)
        line = self.lines[row]
        count, column = 0, 0
        while column < len(line) and count < position.character:
            count += self._units(line[column])
            column += 1
        return Position(row + 1, column + 1)

    def offset_position(self, offset: int) -> types.Position:
        """The LSP position of a character offset into the text."""
        before = self.text[:offset]
        lines = split_lines(before)
        return types.Position(line=len(lines) - 1, character=self._units(lines[-1]))


@lru_cache(maxsize=None)
def help_uri(code: str) -> Optional[str]:
    """The rule's reference URL, the one the SARIF report gives as its ``helpUri``."""
    from leaflint.report.sarif import rule_descriptor

    return rule_descriptor(code).get("helpUri")


@lru_cache(maxsize=None)
def rule_docs(code: str) -> str:
    """What ``leaflint rule CODE`` prints (for a diagnostic code, its description)."""
    cls = REGISTRY.get(code)
    if cls is not None:
        return cls.document()
    from leaflint.report.sarif import DIAGNOSTICS

    name, short, full = DIAGNOSTICS.get(code, (code, "", ""))
    return f"# {code} {name}\n\n{short}\n\n{full}\n"


def diagnostic(problem: Problem, lines: Lines) -> types.Diagnostic:
    finding = problem.finding
    href = help_uri(finding.code)
    return types.Diagnostic(
        range=lines.range(finding.location, finding.end_location),
        message=finding.message,
        severity=types.DiagnosticSeverity.Error,
        code=finding.code,
        code_description=types.CodeDescription(href=href) if href else None,
        source=SOURCE,
    )


def covers(finding: Finding, start: Position, end: Position) -> bool:
    """Whether the finding's span meets the range from ``start`` to ``end`` (ends included)."""
    return finding.location <= end and start <= finding.end_location


def on_rows(finding: Finding, start: Position, end: Position) -> bool:
    """Whether the finding is on one of the rows from ``start`` to ``end``: code actions are
    offered for the findings of the lines the cursor or selection is on."""
    return finding.location.row <= end.row and start.row <= finding.end_location.row


def text_edit(edit: Edit, lines: Lines) -> types.TextEdit:
    return types.TextEdit(range=lines.range(edit.start, edit.end), new_text=edit.content)


Versions = Optional[dict[str, Optional[int]]]


def workspace_edit(edits: Sequence[tuple[str, types.TextEdit]], versions: Versions) -> types.WorkspaceEdit:
    """Edits grouped by document, each with the version it was computed for (``versions``:
    uri -> version; None for a client without ``documentChanges``: plain ``changes``)."""
    by_uri: dict[str, list[types.TextEdit]] = {}
    for uri, edit in edits:
        by_uri.setdefault(uri, []).append(edit)
    if versions is None:
        return types.WorkspaceEdit(changes=by_uri)
    return types.WorkspaceEdit(document_changes=[
        types.TextDocumentEdit(text_document=types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=versions.get(uri)),
                               edits=list(items))
        for uri, items in by_uri.items()])


def fix_action(problem: Problem, lines_of: Callable[[str], Lines], versions: Versions,
               diagnostic_: types.Diagnostic) -> Optional[types.CodeAction]:
    """The finding's fix as a quick fix: preferred when safe, titled "(unsafe)" when not."""
    fix = problem.finding.fix
    if fix is None or problem.edits is None:
        return None
    safe = fix.applicability == "safe"
    edits = [(uri, text_edit(edit, lines_of(uri))) for uri, edit in problem.edits]
    return types.CodeAction(
        title=f"{problem.finding.code}: {fix.message}{'' if safe else UNSAFE_MARK}",
        kind=types.CodeActionKind.QuickFix, diagnostics=[diagnostic_], is_preferred=safe,
        edit=workspace_edit(edits, versions))


def noqa_action(problem: Problem, edit: Edit, lines: Lines, versions: Versions,
                diagnostic_: types.Diagnostic) -> types.CodeAction:
    return types.CodeAction(
        title=f"{problem.finding.code}: add `# noqa: {problem.finding.code}` (silence it on this line)",
        kind=types.CodeActionKind.QuickFix, diagnostics=[diagnostic_],
        edit=workspace_edit([(problem.target, text_edit(edit, lines))], versions))


def replace_edit(before: str, after: str, lines: Lines) -> types.TextEdit:
    """One edit turning ``before`` (the text of ``lines``) into ``after``: the changed middle
    (common prefix and suffix kept, so the editor's cursor and folds stay put)."""
    start = 0
    limit = min(len(before), len(after))
    while start < limit and before[start] == after[start]:
        start += 1
    end_before, end_after = len(before), len(after)
    while end_before > start and end_after > start and before[end_before - 1] == after[end_after - 1]:
        end_before -= 1
        end_after -= 1
    # never split a "\r\n" pair
    if 0 < start < len(before) and before[start - 1] == "\r" and before[start] == "\n":
        start -= 1
    if 0 < end_before < len(before) and before[end_before - 1] == "\r" and before[end_before] == "\n":
        end_before += 1
        end_after += 1
    return types.TextEdit(range=types.Range(start=lines.offset_position(start), end=lines.offset_position(end_before)),
                          new_text=after[start:end_after])


def fix_all_action(changed: dict[str, str], lines_of: Callable[[str], Lines],
                   versions: Versions, kind: str = FIX_ALL_KIND) -> types.CodeAction:
    edits = [(uri, replace_edit(lines_of(uri).text, text, lines_of(uri))) for uri, text in changed.items()]
    return types.CodeAction(title="leaflint: fix all safe fixes", kind=kind, edit=workspace_edit(edits, versions))


def hover(problems: Sequence[Problem], lines: Lines) -> Optional[types.Hover]:
    """The docs of the rules of the findings under the cursor."""
    if not problems:
        return None
    codes = list(dict.fromkeys(p.finding.code for p in problems))
    value = "\n---\n\n".join(rule_docs(code) + (f"\n[{code} reference]({help_uri(code)})\n" if help_uri(code) else "")
                             for code in codes)
    first = problems[0].finding
    return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=value),
                       range=lines.range(first.location, first.end_location))

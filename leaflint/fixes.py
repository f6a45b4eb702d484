"""Applying fixes: select, apply, verify, write.

``fix_bytes`` takes one file's bytes and returns what fixing it gives (``FileFix``): the rounds
apply every non-overlapping applicable fix, then re-lint the result with the same rules; a round
is kept only if the result parses, each fixed finding is gone and no finding is new. A fix that
fails that check is dropped (with the reason) and the others are retried, up to ``MAX_ROUNDS``
rounds or until nothing changes. ``write_atomic`` writes a temporary file in the same directory
and renames it over the original, keeping the mode bits; the text is encoded back with the
file's own encoding (PEP 263 cookie, BOM) and its line endings are kept, since edits are made in
the file's newline style.

Notebooks are fixed through the module their code cells form (``leaflint.notebook``): the cells
are separated by marker comments, which no edit touches, so every edited line stays in its cell;
each changed cell gets its new source (IPython magics as they were), the JSON keeps its key order
and indentation.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import stat
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional, Sequence

from leaflint import notebook
from leaflint.findings import Edit, Finding, Fix, Position
from leaflint.source import UnreadableSource, decode

MAX_ROUNDS = 100
SYNTAX_ERROR = "LL001"
_LINE_BREAK = re.compile(r"\r\n|\r|\n")

Lint = Callable[[str], list]  # text -> findings (module coordinates)


def applicable(fix: Optional[Fix], unsafe: bool) -> bool:
    return fix is not None and (fix.applicability == "safe" or unsafe)


@dataclass
class Rejected:
    finding: Finding  # where it was when the fix was tried
    reason: str

    def describe(self) -> str:
        f = self.finding
        where = f"{f.filename}:cell {f.cell}:" if f.cell is not None else f"{f.filename}:"
        return f"fix for {f.code} at {where}{f.location.row}:{f.location.column} not applied: {self.reason}"


@dataclass
class FileFix:
    filename: str
    before: bytes
    after: bytes
    applied: list[Finding] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    remaining: list[Finding] = field(default_factory=list)  # the findings of the fixed file
    diff: str = ""
    note: Optional[str] = None  # why the file was not fixed at all

    @property
    def changed(self) -> bool:
        return self.after != self.before


# ------------------------------------------------------------------------------ text and edits
def _line_starts(text: str) -> list[int]:
    return [0] + [m.end() for m in _LINE_BREAK.finditer(text)]


def _offset(starts: list[int], text: str, position: Position) -> int:
    if position.row > len(starts):
        return len(text)
    line_end = starts[position.row] if position.row < len(starts) else len(text)
    return min(starts[position.row - 1] + position.column - 1, line_end)


def apply_edits(text: str, edits: Iterable[Edit]) -> str:
    """``text`` with non-overlapping ``edits`` applied (identical edits count once)."""
    starts = _line_starts(text)
    spans = sorted({(_offset(starts, text, e.start), _offset(starts, text, e.end), e.content) for e in edits},
                   key=lambda s: (s[0], s[1]), reverse=True)
    out = text
    for start, end, content in spans:
        out = out[:start] + content + out[end:]
    return out


def _spans(text: str, starts: list[int], fix: Fix) -> list[tuple[int, int, str]]:
    return [(_offset(starts, text, e.start), _offset(starts, text, e.end), e.content) for e in fix.edits]


def _conflict(a: list[tuple[int, int, str]], b: list[tuple[int, int, str]]) -> bool:
    """Whether two fixes' edits overlap or insert at the same point."""
    for sa, ea, ca in a:
        for sb, eb, cb in b:
            if (sa, ea, ca) == (sb, eb, cb):
                continue  # the same edit (e.g. the same import added): applied once
            if sa == ea == sb == eb:
                return True  # two insertions at one point: their order is ambiguous
            if sa < eb and sb < ea:
                return True
            if sa == ea and sb < sa < eb or sb == eb and sa < sb < ea:
                return True
    return False


def _adjacent(a: list[tuple[int, int, str]], b: list[tuple[int, int, str]], text: str) -> bool:
    """Whether two fixes' edits touch across a line break: the later one then waits for the next
    round, where it is recomputed on the new text (a statement right below a ``with
    torch.no_grad():`` block added for the one above joins that block)."""
    breaks = ("\n", "\r\n", "\r")
    return any(ea < sb and text[ea:sb] in breaks or eb < sa and text[eb:sa] in breaks
               for sa, ea, _ in a for sb, eb, _ in b)


# --------------------------------------------------------------------------------- the rounds
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
        lines = _LINE_BREAK.split(text)
        candidates = [f for f in findings if applicable(f.fix, unsafe) and _identity(f, lines) not in refused]
        if not candidates:
            break
        starts = _line_starts(text)
        chosen: list[tuple[Finding, list]] = []
        earlier: list[list] = []
        for finding in sorted(candidates, key=Finding.sort_key):
            spans = _spans(text, starts, finding.fix)
            if not any(_conflict(spans, other) for _, other in chosen) \
                    and not any(_adjacent(spans, other, text) for other in earlier):
                chosen.append((finding, spans))
            earlier.append(spans)
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


# ------------------------------------------------------------------------------------ a file
def fix_bytes(data: bytes, filename: str, lint_source: Callable[[str, str], list], unsafe: bool,
              keep: Callable[[list], list] = lambda findings: findings) -> FileFix:
    """Fix one file given its bytes. ``lint_source(text, filename)`` lints a module's text (the
    engine's, with the file's rules); ``keep`` drops what the configuration silences."""
    try:
        return _fix_bytes(data, filename, lint_source, unsafe, keep)
    except Exception as exc:  # a bug in leaflint: leave the file as it is
        return FileFix(filename, data, data, note=f"internal error while fixing ({type(exc).__name__}: {exc})")


def _fix_bytes(data: bytes, filename: str, lint_source, unsafe: bool, keep) -> FileFix:
    if filename.endswith(notebook.SUFFIX):
        return _fix_notebook(data, filename, lint_source, unsafe, keep)
    try:
        source = decode(data)
    except UnreadableSource as exc:
        return FileFix(filename, data, data, note=str(exc))
    result = fix_text(source.text, lambda text: keep(lint_source(text, filename)), unsafe)
    out = FileFix(filename, data, data, result.applied, result.rejected, result.remaining)
    if result.text != source.text:
        try:
            out.after = result.text.encode(source.encoding)
        except (UnicodeEncodeError, LookupError) as exc:
            out.note = f"the fixed text cannot be encoded as {source.encoding} ({exc})"
            out.applied = []
            out.remaining = keep(lint_source(source.text, filename))
            return out
        out.diff = _diff(source.text, result.text, filename)
    return out


def _diff(before: str, after: str, name: str) -> str:
    lines = difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True),
                                 fromfile=f"a/{name}", tofile=f"b/{name}")
    out = []
    for line in lines:
        out.append(line if line.endswith(("\n", "\r")) else line + "\n\\ No newline at end of file\n")
    return "".join(out)


def write_atomic(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory and a rename,
    keeping the file's mode bits (and its owner when we may). A symlink's target is written."""
    real = os.path.realpath(path)
    directory = os.path.dirname(real) or "."
    st = os.stat(real)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(real)}.", suffix=".leaflint-tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, stat.S_IMODE(st.st_mode))
        if hasattr(os, "chown"):
            try:
                os.chown(tmp, st.st_uid, st.st_gid)
            except OSError:
                pass
        os.replace(tmp, real)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


# ------------------------------------------------------------------------------- notebooks
_MARK = "# leaflint-cell-boundary {}"
_MARK_RE = re.compile(r"^# leaflint-cell-boundary (\d+)$")


def _notebook_module(nb: notebook.Notebook) -> tuple[str, dict[int, list[str]]]:
    """The code cells as one module with a marker line before each cell, and each cell's lines."""
    source_lines = nb.source.split("\n")
    parts = []
    cells: dict[int, list[str]] = {}
    for cell in nb.cells:
        lines = source_lines[cell.first_row - 1: cell.first_row - 1 + cell.rows]
        cells[cell.number] = lines
        parts.append(_MARK.format(cell.number) + "\n" + "".join(line + "\n" for line in lines))
    return "".join(parts), cells


def _split_module(text: str) -> dict[int, list[str]]:
    cells: dict[int, list[str]] = {}
    current: Optional[list[str]] = None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for line in lines:
        match = _MARK_RE.match(line)
        if match:
            current = cells.setdefault(int(match.group(1)), [])
        elif current is not None:
            current.append(line)
    return cells


def _to_cell(finding: Finding, text: str) -> Finding:
    """A finding of the marker module, with its rows made relative to its cell."""
    lines = text.split("\n")
    row = finding.location.row
    cell, first = None, 1
    for index in range(min(row, len(lines)) - 1, -1, -1):
        match = _MARK_RE.match(lines[index])
        if match:
            cell, first = int(match.group(1)), index + 2
            break
    if cell is None:
        return finding
    offset = first - 1
    fix = finding.fix
    if fix is not None:
        fix = Fix(fix.message, fix.applicability, [
            Edit(Position(e.start.row - offset, e.start.column), Position(e.end.row - offset, e.end.column), e.content)
            for e in fix.edits])
    return Finding(finding.code, finding.name, finding.message, finding.filename,
                   Position(row - offset, finding.location.column),
                   Position(max(1, finding.end_location.row - offset), finding.end_location.column), fix, cell,
                   finding.detail)


def _restore(original: list[str], python: list[str], fixed: list[str]) -> list[str]:
    """The fixed cell lines with the IPython lines (blanked for linting) put back."""
    if original == python:
        return fixed
    out: list[str] = []
    matcher = difflib.SequenceMatcher(a=python, b=fixed, autojunk=False)
    for op, a1, a2, b1, b2 in matcher.get_opcodes():
        if op == "equal":
            out.extend(original[a1:a2])
        else:
            out.extend(fixed[b1:b2])
    return out


def json_layout(text: str) -> dict:
    """How a notebook's JSON was written (indentation, ASCII escapes), to write it back alike."""
    match = re.match(r"\s*\{\s*?\n([ \t]+)\"", text)
    indent: Optional[object] = None
    if match:
        ws = match.group(1)
        indent = ws if "\t" in ws else len(ws)
    ascii_only = all(ord(c) < 128 for c in text) and "\\u" in text
    return {"indent": indent, "ensure_ascii": ascii_only}


def _fix_notebook(data: bytes, filename: str, lint_source, unsafe: bool, keep) -> FileFix:
    try:
        nb = notebook.parse(data)
        document = notebook.load(data)
    except notebook.NotebookError as exc:
        return FileFix(filename, data, data, note=str(exc))
    if not nb.source.strip():
        return FileFix(filename, data, data)
    module, python_cells = _notebook_module(nb)

    def lint(text: str) -> list:
        return keep(lint_source(text, filename))

    result = fix_text(module, lint, unsafe)
    applied = [_to_cell(f, module) for f in result.applied]
    rejected = [Rejected(_to_cell(r.finding, module), r.reason) for r in result.rejected]
    remaining = [_to_cell(f, result.text) for f in result.remaining]
    out = FileFix(filename, data, data, applied, rejected, remaining)
    if result.text == module:
        return out
    fixed_cells = _split_module(result.text)
    diffs = []
    by_number = {cell.number: cell for cell in nb.cells}
    for number, lines in fixed_cells.items():
        if lines == python_cells.get(number):
            continue
        cell = by_number[number]
        new_lines = _restore(list(cell.lines), python_cells[number], lines)
        raw = document["cells"][number - 1]
        old_text = "".join(raw["source"]) if isinstance(raw["source"], list) else raw["source"]
        trailing = "\n" if re.search(r"(\r\n|\r|\n)\Z", old_text) else ""
        new_text = "\n".join(new_lines) + trailing
        raw["source"] = [part for part in re.split(r"(?<=\n)", new_text) if part] \
            if isinstance(raw["source"], list) else new_text
        diffs.append(_diff(old_text if old_text.endswith("\n") else old_text + "\n",
                           new_text if new_text.endswith("\n") else new_text + "\n", f"{filename}:cell {number}"))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    layout = json_layout(text)
    encoded = json.dumps(document, indent=layout["indent"], ensure_ascii=layout["ensure_ascii"])
    if text.endswith("\n"):
        encoded += "\n"
    after = encoded.encode("utf-8")
    try:  # the rewritten notebook must read back with the fixed cells
        check = notebook.parse(after)
    except notebook.NotebookError as exc:
        out.note = f"the rewritten notebook does not read back ({exc})"
        out.applied, out.remaining = [], [_to_cell(f, module) for f in lint(module)]
        return out
    if check.source.count("\n") != sum(len(lines) for lines in fixed_cells.values()):
        out.note = "the rewritten notebook's cells do not match the fixed code"
        out.applied, out.remaining = [], [_to_cell(f, module) for f in lint(module)]
        return out
    out.after = after
    out.diff = "".join(diffs)
    return out


# -------------------------------------------------------------------------------- many files
@dataclass
class FixRun:
    files: list[FileFix] = field(default_factory=list)

    @property
    def applied(self) -> list[Finding]:
        return [f for r in self.files for f in r.applied]

    @property
    def rejected(self) -> list[Rejected]:
        return [r for f in self.files for r in f.rejected]

    @property
    def changed(self) -> list[FileFix]:
        return [f for f in self.files if f.changed]


def fix_paths(findings: Sequence[Finding], lint_for: Callable[[str], tuple[Callable, Callable]], unsafe: bool,
              read: Callable[[str], bytes] = None) -> FixRun:
    """Fix every file that has an applicable fix among ``findings``. ``lint_for(path)`` gives the
    file's ``(lint_source, keep)`` (its rules and its configuration's filter)."""
    run = FixRun()
    seen: list[str] = []
    for finding in findings:
        if applicable(finding.fix, unsafe) and finding.filename not in seen:
            seen.append(finding.filename)
    for path in seen:
        try:
            if read is not None:
                data = read(path)
            else:
                with open(path, "rb") as handle:
                    data = handle.read()
        except OSError as exc:
            run.files.append(FileFix(path, b"", b"", note=f"cannot read it: {exc.strerror or exc}"))
            continue
        lint_source, keep = lint_for(path)
        run.files.append(fix_bytes(data, path, lint_source, unsafe, keep))
    return run


def summarize(applied: Sequence[Finding]) -> str:
    """``--show-fixes``: the fixes applied, per file and rule."""
    if not applied:
        return ""
    by_file: dict[str, Counter] = {}
    names: dict[str, str] = {}
    for finding in applied:
        by_file.setdefault(finding.filename, Counter())[finding.code] += 1
        names[finding.code] = finding.name
    total = len(applied)
    out = [f"Fixed {total} finding{'s' if total != 1 else ''}:"]
    for filename in sorted(by_file):
        out.append(f"- {filename}:")
        for code, count in sorted(by_file[filename].items()):
            out.append(f"    {count} \u00d7 {code} ({names[code]})")
    return "\n".join(out) + "\n"

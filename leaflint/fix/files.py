"""Fixing files: one file's bytes (a module, or a notebook through the module its code cells
form, ``leaflint.notebook``), many files, the diff, and the atomic write.

``write_atomic`` writes a temporary file in the same directory and renames it over the
original, keeping the mode bits; the text is encoded back with the file's own encoding (PEP 263
cookie, BOM) and its line endings are kept, since edits are made in the file's newline style.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

from leaflint import notebook
from leaflint.findings import Finding
from leaflint.fix.rounds import Rejected, applicable, fix_text
from leaflint.source import UnreadableSource, decode


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


def _fix_notebook(data: bytes, filename: str, lint_source, unsafe: bool, keep) -> FileFix:
    try:
        nb = notebook.parse(data)
        document = notebook.load(data)
    except notebook.NotebookError as exc:
        return FileFix(filename, data, data, note=str(exc))
    if not nb.source.strip():
        return FileFix(filename, data, data)
    module, python_cells = notebook.marker_module(nb)

    def lint(text: str) -> list:
        return keep(lint_source(text, filename))

    result = fix_text(module, lint, unsafe)
    applied = [notebook.finding_to_cell(f, module) for f in result.applied]
    rejected = [Rejected(notebook.finding_to_cell(r.finding, module), r.reason) for r in result.rejected]
    remaining = [notebook.finding_to_cell(f, result.text) for f in result.remaining]
    out = FileFix(filename, data, data, applied, rejected, remaining)
    if result.text == module:
        return out
    fixed_cells = notebook.split_marker_module(result.text)
    diffs = []
    by_number = {cell.number: cell for cell in nb.cells}
    for number, lines in fixed_cells.items():
        if lines == python_cells.get(number):
            continue
        cell = by_number[number]
        new_lines = notebook.restore_magics(list(cell.lines), python_cells[number], lines)
        old_text = notebook.cell_text(document, number)
        trailing = "\n" if re.search(r"(\r\n|\r|\n)\Z", old_text) else ""
        new_text = "\n".join(new_lines) + trailing
        notebook.set_cell_source(document, number, new_text)
        diffs.append(_diff(old_text if old_text.endswith("\n") else old_text + "\n",
                           new_text if new_text.endswith("\n") else new_text + "\n", f"{filename}:cell {number}"))
    after = notebook.dump(document, data)
    try:  # the rewritten notebook must read back with the fixed cells
        check = notebook.parse(after)
    except notebook.NotebookError as exc:
        out.note = f"the rewritten notebook does not read back ({exc})"
        out.applied, out.remaining = [], [notebook.finding_to_cell(f, module) for f in lint(module)]
        return out
    if check.source.count("\n") != sum(len(lines) for lines in fixed_cells.values()):
        out.note = "the rewritten notebook's cells do not match the fixed code"
        out.applied, out.remaining = [], [notebook.finding_to_cell(f, module) for f in lint(module)]
        return out
    out.after = after
    out.diff = "".join(diffs)
    return out


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

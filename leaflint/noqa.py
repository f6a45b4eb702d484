"""``--add-noqa``: a ``# noqa: CODE`` comment on the line of every current finding, so that a
codebase can adopt leaflint today and fail only on new code.

Idempotent: a finding already suppressed is not reported, so it gets no second comment, and
codes join an existing ``# noqa: ...`` comment of the line (``# noqa: E501`` becomes
``# noqa: E501, LL101``) instead of adding another. The comment goes on the finding's first
row, or on its last row when the first row ends inside a string or with a backslash (where a
comment cannot go); those are the rows suppression looks at. Notebooks get the comment in the
cell's source; the JSON keeps its key order and indentation. Files are written atomically.
Diagnostics (LL001-LL003) are not rule findings and get no comment.
"""

from __future__ import annotations

import io
import re
import tokenize
from typing import Iterable, Iterator, Optional, Sequence

from leaflint import notebook
from leaflint.findings import DIAGNOSTIC_CODES, Finding
from leaflint.source import UnreadableSource, decode, read_bytes
from leaflint.suppress import NOQA_CODES

_LINE_END = re.compile(r"[ \t]*(\r\n|\r|\n)?\Z")
_LINES = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


def split_lines(text: str) -> list[str]:
    """The lines of ``text`` with their endings, split as Python and libcst do (``\\r\\n``,
    ``\\r``, ``\\n``; not ``str.splitlines``'s form feeds and Unicode separators)."""
    return _LINES.findall(text)


def add_to_files(findings: Iterable[Finding]) -> Iterator[tuple[str, int, Optional[str]]]:
    """Add the comments file by file: yields (filename, comments added or extended, error)."""
    by_file: dict[str, list[Finding]] = {}
    for finding in findings:
        if finding.code not in DIAGNOSTIC_CODES:
            by_file.setdefault(finding.filename, []).append(finding)
    for filename, found in by_file.items():
        try:
            data = read_bytes(filename)
            if filename.endswith(notebook.SUFFIX):
                after, count = _notebook(data, found)
            else:
                after, count = _module(data, found)
            if after != data:
                from leaflint.fix.files import write_atomic

                write_atomic(filename, after)
        except (OSError, UnreadableSource, notebook.NotebookError, ValueError) as exc:
            yield filename, 0, str(exc)
            continue
        yield filename, count, None


def _module(data: bytes, findings: Sequence[Finding]) -> tuple[bytes, int]:
    source = decode(data)
    lines = split_lines(source.text)
    lines, count = add_to_lines(lines, [(f.location.row, f.end_location.row, f.code) for f in findings])
    return "".join(lines).encode(source.encoding), count


def _notebook(data: bytes, findings: Sequence[Finding]) -> tuple[bytes, int]:
    nb = notebook.parse(data)
    document = notebook.load(data)
    module_lines = split_lines(nb.source)
    first_rows = {cell.number: cell.first_row for cell in nb.cells}
    wanted = [(first_rows[f.cell] + f.location.row - 1, first_rows[f.cell] + f.end_location.row - 1, f.code)
              for f in findings if f.cell in first_rows]
    rows, comments = placements(module_lines, wanted)
    if not rows:
        return data, 0
    count = 0
    for cell in nb.cells:
        mine = {row - cell.first_row + 1: codes for row, codes in rows.items()
                if cell.first_row <= row < cell.first_row + cell.rows}
        if not mine:
            continue
        cell_lines = split_lines(notebook.cell_text(document, cell.number))
        for row, codes in mine.items():
            cell_lines[row - 1] = with_codes(cell_lines[row - 1], codes, comments.get(cell.first_row + row - 1))
            count += 1
        notebook.set_cell_source(document, cell.number, "".join(cell_lines))
    return notebook.dump(document, data), count


def add_to_lines(lines: list[str], wanted: Sequence[tuple[int, int, str]]) -> tuple[list[str], int]:
    """``lines`` (with their line endings) with the codes of ``wanted`` ((first row, last row,
    code) per finding) added in noqa comments; and how many lines changed."""
    rows, comments = placements(lines, wanted)
    out = list(lines)
    for row, codes in rows.items():
        out[row - 1] = with_codes(out[row - 1], codes, comments.get(row))
    return out, len(rows)


def placements(lines: Sequence[str], wanted: Sequence[tuple[int, int, str]]) -> tuple[dict[int, list[str]], dict[int, int]]:
    """row -> the codes to add there (in first-seen order); and row -> the column (0-based) of
    the comment already on that row."""
    closed, comments = _scan("".join(lines))
    rows: dict[int, list[str]] = {}
    for first, last, code in wanted:
        row = next((r for r in (first, last) if 1 <= r <= len(lines) and r not in closed), None)
        if row is None:
            continue
        codes = rows.setdefault(row, [])
        if code not in codes:
            codes.append(code)
    return rows, comments


def _scan(text: str) -> tuple[set[int], dict[int, int]]:
    """The rows whose end is inside a multi-line string or after a backslash (no comment can go
    there), and the column of each comment, from Python's tokenizer."""
    closed: set[int] = set()
    comments: dict[int, int] = {}
    for row, line in enumerate(split_lines(text), start=1):
        if line.rstrip("\r\n").endswith("\\"):
            closed.add(row)
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.COMMENT:
                comments[token.start[0]] = token.start[1]
            elif token.start[0] != token.end[0] and token.type not in (tokenize.NEWLINE, tokenize.NL):
                closed.update(range(token.start[0], token.end[0]))
    except (tokenize.TokenError, SyntaxError) as exc:
        raise ValueError(f"cannot tokenize the file ({exc})") from None
    return closed, comments


def with_codes(line: str, codes: Sequence[str], comment: Optional[int] = None) -> str:
    """``line`` with ``codes`` in its noqa comment (``comment``: the column where the line's
    comment starts, if it has one): joined to an existing ``# noqa: ...`` list, else in a new
    ``  # noqa: ...`` comment at the end of the line."""
    end = _LINE_END.search(line)
    body, ending = line[:end.start()], end.group(1) or ""
    match = NOQA_CODES.search(body, comment) if comment is not None else None
    if match is not None:
        present = [c.strip() for c in re.split(r"[,\s]+", match.group("codes")) if c.strip()]
        merged = present + [c for c in codes if c.upper() not in {p.upper() for p in present}]
        return body[:match.start("codes")] + " " + ", ".join(merged) + body[match.end("codes"):] + ending
    return f"{body}  # noqa: {', '.join(codes)}{ending}"

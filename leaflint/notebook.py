"""Jupyter notebooks: the code cells as one module, and positions mapped back to cells.

The code cells are concatenated in order into one module (names defined in an earlier cell are
known in a later one), one cell after the other with no separator lines, so a row of the module
maps to exactly one cell row. IPython syntax is blanked out line by line so that rows and columns
stay right: line magics (``%time f()``), shell escapes (``!pip install x``), help (``obj?``),
``x = !ls`` / ``y = %time f()`` assignments become ``pass`` at the same indentation; a cell magic
(``%%bash``) blanks its whole cell unless its body is Python (``%%time``, ``%%timeit``,
``%%capture``, ...), in which case only the ``%%`` line is blanked.

Cells are numbered from 1 among **all** the cells of the notebook (markdown and raw cells count):
``cell 3`` is ``notebook["cells"][2]``, the third cell you see when you scroll the notebook.
Rows are 1-based within the cell's source, columns 1-based characters, like in a ``.py`` file.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Optional

from leaflint.files import NOTEBOOK_SUFFIX as SUFFIX  # noqa: F401  (re-exported)
from leaflint.findings import Edit, Finding, Fix, Position


class NotebookError(Exception):
    """The bytes are not a notebook we can read (bad JSON, wrong structure)."""


# Cell magics whose body is Python: lint the body, blank only the ``%%`` line.
PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug", "pypy", "python", "python3"})

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_TRAILING_BREAK = re.compile(r"(?:\r\n|\r|\n)\Z")
_MAGIC = re.compile(r"""^(?P<indent>[ \t]*)(?:
      %%?[A-Za-z_]              # %time, %%capture as a line magic
    | !(?!=)                    # !pip install x  (but not a continuation starting with !=)
    | \?\??[A-Za-z_]            # ?obj, ??obj
    | [A-Za-z_][\w.]*\?\??[ \t]*$   # obj?, obj.attr??
    | [A-Za-z_][\w.,\[\]\ \t]*=[ \t]*(?:%%?[A-Za-z_]|!)   # x = !ls, y = %time f()
    )""", re.VERBOSE)


@dataclass
class Cell:
    number: int  # 1-based among all cells
    first_row: int  # 1-based row of the module where the cell starts
    rows: int
    lines: tuple[str, ...] = ()  # the cell's source lines as written (magics included)


@dataclass
class Notebook:
    source: str = ""
    cells: list[Cell] = field(default_factory=list)

    def locate(self, row: int) -> tuple[int, int]:
        """(cell number, row within the cell) of a module row."""
        for cell in reversed(self.cells):
            if row >= cell.first_row:
                return cell.number, row - cell.first_row + 1
        return (self.cells[0].number, row) if self.cells else (1, row)

    def to_cell(self, finding: Finding) -> Finding:
        """The finding with its rows made relative to its cell, and ``cell`` set."""
        cell, row = self.locate(finding.location.row)
        offset = finding.location.row - row
        fix = finding.fix
        if fix is not None:
            fix = Fix(fix.message, fix.applicability, [
                Edit(Position(e.start.row - offset, e.start.column), Position(e.end.row - offset, e.end.column),
                     e.content) for e in fix.edits])
        return Finding(finding.code, finding.name, finding.message, finding.filename,
                       Position(row, finding.location.column),
                       Position(max(1, finding.end_location.row - offset), finding.end_location.column),
                       fix, cell, finding.detail)


def _text(value, where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(part, str) for part in value):
        return "".join(value)
    raise NotebookError(f"malformed notebook: {where} must be a string or a list of strings")


def load(data: bytes) -> dict:
    try:
        document = json.loads(data)
    except UnicodeDecodeError as exc:
        raise NotebookError(f"malformed notebook: not UTF-8 ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise NotebookError(f"malformed notebook: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except (ValueError, RecursionError) as exc:
        raise NotebookError(f"malformed notebook: invalid JSON ({exc})") from None
    if not isinstance(document, dict):
        raise NotebookError("malformed notebook: the top level is not a JSON object")
    if "cells" not in document:
        if "worksheets" in document:
            raise NotebookError("nbformat 3 notebook is not supported; convert it with "
                                "`jupyter nbconvert --to notebook --nbformat 4`")
        raise NotebookError("malformed notebook: no \"cells\" list")
    if not isinstance(document["cells"], list):
        raise NotebookError("malformed notebook: \"cells\" is not a list")
    return document


def is_python(document: dict) -> bool:
    metadata = document.get("metadata")
    if not isinstance(metadata, dict):
        return True
    for key, sub in (("kernelspec", "language"), ("language_info", "name")):
        table = metadata.get(key)
        if isinstance(table, dict) and isinstance(table.get(sub), str) and table[sub]:
            return table[sub].lower() in ("python", "python3", "ipython", "ipython3")
    return True


def parse(data: bytes) -> Notebook:
    """The notebook's code cells as one module; ``NotebookError`` if it is not a notebook."""
    document = load(data)
    notebook = Notebook()
    python = is_python(document)
    parts: list[str] = []
    row = 1
    for index, cell in enumerate(document["cells"], start=1):
        if not isinstance(cell, dict) or not isinstance(cell.get("cell_type"), str):
            raise NotebookError(f"malformed notebook: cell {index} is not an object with a \"cell_type\"")
        if "source" not in cell:
            raise NotebookError(f"malformed notebook: cell {index} has no \"source\"")
        text = _text(cell["source"], f"the source of cell {index}")
        if cell["cell_type"] != "code" or not python or not text:
            continue
        original = _LINE_BREAK.split(_TRAILING_BREAK.sub("", text, count=1))
        lines = _python_lines(original)
        notebook.cells.append(Cell(index, row, len(lines), tuple(original)))
        parts.append("".join(line + "\n" for line in lines))
        row += len(lines)
    notebook.source = "".join(parts)
    return notebook


def _python_lines(lines: list[str]) -> list[str]:
    """The cell's lines with IPython syntax replaced by ``pass`` or blank lines (same count)."""
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].lstrip().startswith("%%"):
        name = lines[first].lstrip()[2:].split(None, 1)[0] if lines[first].lstrip()[2:].strip() else ""
        if name not in PYTHON_CELL_MAGICS:
            return [""] * len(lines)
        lines = lines[:first] + [""] + lines[first + 1:]
    out = []
    scanner = _Scanner()
    continued_magic = False
    for line in lines:
        if continued_magic:
            out.append("")
            continued_magic = line.rstrip().endswith("\\")
            continue
        match = _MAGIC.match(line) if scanner.at_statement_start() else None
        if match is not None:
            out.append(match.group("indent") + "pass")
            continued_magic = line.rstrip().endswith("\\")
            continue
        scanner.feed(line)
        out.append(line)
    return out


class _Scanner:
    """Enough of the tokenizer to know whether a line starts a new statement: bracket depth,
    open triple-quoted strings, backslash continuations."""

    def __init__(self) -> None:
        self.depth = 0
        self.triple: Optional[str] = None
        self.backslash = False

    def at_statement_start(self) -> bool:
        return self.depth == 0 and self.triple is None and not self.backslash

    def feed(self, line: str) -> None:
        i, n = 0, len(line)
        self.backslash = False
        while i < n:
            if self.triple is not None:
                end = line.find(self.triple, i)
                while end != -1 and _escaped(line, end):
                    end = line.find(self.triple, end + 1)
                if end == -1:
                    return
                i = end + 3
                self.triple = None
                continue
            c = line[i]
            if c == "#":
                return
            if c in "\"'":
                if line.startswith(c * 3, i):
                    self.triple = c * 3
                    i += 3
                    continue
                j = i + 1
                while j < n and line[j] != c:
                    j += 2 if line[j] == "\\" else 1
                i = j + 1
                continue
            if c in "([{":
                self.depth += 1
            elif c in ")]}":
                self.depth = max(0, self.depth - 1)
            elif c == "\\" and i == n - 1:
                self.backslash = True
            i += 1


def _escaped(line: str, index: int) -> bool:
    count = 0
    while index > 0 and line[index - 1] == "\\":
        count += 1
        index -= 1
    return count % 2 == 1


def lint(data: bytes, filename: str, lint_source) -> list[Finding]:
    """Findings of ``lint_source(text, filename)`` on the notebook, with cell-relative rows.
    Raises ``NotebookError`` for a malformed notebook."""
    notebook = parse(data)
    if not notebook.source.strip():
        return []
    return [notebook.to_cell(f) for f in lint_source(notebook.source, filename)]


@lru_cache(maxsize=16)
def cell_sources(filename: str) -> dict[int, tuple[str, ...]]:
    """cell number -> source lines of the notebook's code cells ({} if unreadable)."""
    try:
        with open(filename, "rb") as handle:
            notebook = parse(handle.read())
    except (OSError, NotebookError):
        return {}
    return {cell.number: cell.lines for cell in notebook.cells}


# --- positions in the .ipynb file itself (for CI annotations) --------------------------------

def raw_location(filename: str, cell: int, row: int, column: int) -> Optional[tuple[int, int]]:
    """The 1-based (line, column) in the notebook's JSON text of a cell position, or None when
    the file cannot be read or does not hold that cell any more."""
    index = _raw_index(filename)
    if index is None:
        return None
    sources = index.get(cell)
    if sources is None:
        return None
    text, pieces = sources
    # The offset of (row, column) in the cell's decoded source.
    source = _decoded_source(pieces)
    starts = [0] + [m.end() for m in _LINE_BREAK.finditer(source)]
    if not 1 <= row <= len(starts):
        return None
    offset = starts[row - 1] + column - 1
    for number, (raw_start, decoded) in enumerate(pieces):
        if offset < len(decoded) or number == len(pieces) - 1:
            raw = _raw_offset(text, raw_start, min(offset, len(decoded)))
            line = text.count("\n", 0, raw) + 1
            return line, raw - (text.rfind("\n", 0, raw) + 1) + 1
        offset -= len(decoded)
    return None


def _decoded_source(pieces: list[tuple[int, str]]) -> str:
    return "".join(decoded for _, decoded in pieces)


@lru_cache(maxsize=16)
def _raw_index(filename: str) -> Optional[dict[int, tuple[str, list[tuple[int, str]]]]]:
    """cell number -> (file text, [(offset of the opening quote, decoded string)]) per source piece."""
    try:
        with open(filename, encoding="utf-8") as handle:
            text = handle.read()
        return _index_cells(text)
    except (OSError, UnicodeDecodeError, ValueError, IndexError, RecursionError):
        return None


def _index_cells(text: str) -> dict[int, tuple[str, list[tuple[int, str]]]]:
    decoder = _PositionDecoder(text)
    root = decoder.value(decoder.skip(0))[0]
    result = {}
    cells = root.get("cells") if isinstance(root, dict) else None
    if not isinstance(cells, _Located) or not isinstance(cells.value, list):
        return result
    for number, cell in enumerate(cells.value, start=1):
        if not isinstance(cell, dict) or "source" not in cell:
            continue
        source = cell["source"]
        items = source.value if isinstance(source.value, list) else [source]
        pieces = [(item.start, item.value) for item in items if isinstance(item.value, str)]
        if pieces:
            result[number] = (text, pieces)
    return result


@dataclass
class _Located:
    start: int
    value: object


class _PositionDecoder:
    """A small JSON reader that keeps the offset of every string and of the cells list."""

    _NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?")

    def __init__(self, text: str) -> None:
        self.text = text

    def skip(self, i: int) -> int:
        while i < len(self.text) and self.text[i] in " \t\r\n":
            i += 1
        return i

    def value(self, i: int):
        c = self.text[i]
        if c == "{":
            out: dict = {}
            i = self.skip(i + 1)
            if self.text[i] == "}":
                return out, i + 1
            while True:
                key, i = json.decoder.scanstring(self.text, self.skip(i) + 1)
                i = self.skip(self.skip(i) + 1)  # past ':'
                start = i
                item, i = self.value(i)
                out[key] = item if isinstance(item, dict) else _Located(start, item)
                i = self.skip(i)
                if self.text[i] == "}":
                    return out, i + 1
                i += 1
        if c == "[":
            items: list = []
            i = self.skip(i + 1)
            if self.text[i] == "]":
                return items, i + 1
            while True:
                i = self.skip(i)
                start = i
                item, i = self.value(i)
                items.append(item if isinstance(item, dict) else _Located(start, item))
                i = self.skip(i)
                if self.text[i] == "]":
                    return items, i + 1
                i += 1
        if c == '"':
            return json.decoder.scanstring(self.text, i + 1)
        for word, val in (("true", True), ("false", False), ("null", None)):
            if self.text.startswith(word, i):
                return val, i + len(word)
        match = self._NUMBER.match(self.text, i)
        if match is None:
            raise ValueError(f"bad JSON at {i}")
        return match.group(0), match.end()


def _raw_offset(text: str, quote: int, decoded: int) -> int:
    """Offset in ``text`` of the ``decoded``-th character of the JSON string whose opening quote
    is at ``quote``."""
    i = quote + 1
    for _ in range(decoded):
        if text[i] == "\\":
            if text[i + 1] == "u":
                code = int(text[i + 2:i + 6], 16)
                i += 6
                if 0xD800 <= code < 0xDC00 and text.startswith("\\u", i):
                    i += 6
            else:
                i += 2
        else:
            i += 1
    return i



# ------------------------------------------------------------- the round trip of a fix
_MARK = "# leaflint-cell-boundary {}"


_MARK_RE = re.compile(r"^# leaflint-cell-boundary (\d+)$")


def marker_module(nb: Notebook) -> tuple[str, dict[int, list[str]]]:
    """The code cells as one module with a marker line before each cell, and each cell's lines."""
    source_lines = nb.source.split("\n")
    parts = []
    cells: dict[int, list[str]] = {}
    for cell in nb.cells:
        lines = source_lines[cell.first_row - 1: cell.first_row - 1 + cell.rows]
        cells[cell.number] = lines
        parts.append(_MARK.format(cell.number) + "\n" + "".join(line + "\n" for line in lines))
    return "".join(parts), cells


def split_marker_module(text: str) -> dict[int, list[str]]:
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


def finding_to_cell(finding: Finding, text: str) -> Finding:
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


def restore_magics(original: list[str], python: list[str], fixed: list[str]) -> list[str]:
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


def cell_text(document: dict, number: int) -> str:
    """The source of code cell ``number`` (1-based) as the notebook's JSON holds it."""
    raw = document["cells"][number - 1]
    return "".join(raw["source"]) if isinstance(raw["source"], list) else raw["source"]


def set_cell_source(document: dict, number: int, text: str) -> None:
    """Give cell ``number`` the source ``text``, in the form it had (a list of lines or a string)."""
    raw = document["cells"][number - 1]
    raw["source"] = [part for part in re.split(r"(?<=\n)", text) if part] \
        if isinstance(raw["source"], list) else text


def dump(document: dict, original: bytes) -> bytes:
    """``document`` as JSON written the way ``original`` was (indentation, ASCII escapes, final newline)."""
    try:
        text = original.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    layout = json_layout(text)
    encoded = json.dumps(document, indent=layout["indent"], ensure_ascii=layout["ensure_ascii"])
    if text.endswith("\n"):
        encoded += "\n"
    return encoded.encode("utf-8")

"""What the editor server lints, and how: documents and notebooks as snapshots, linted through
the engine with the configuration ``leaflint check`` would use, and the edits the code actions
offer (a finding's fix, a ``# noqa`` comment, fix-all). No LSP types here: positions are
leaflint's (1-based rows, 1-based columns in characters), ``leaflint.server.convert`` maps them.

A Python document is linted as the file it would be on disk (``engine.lint_bytes``: its path
chooses its configuration and per-file ignores). A notebook is linted exactly like an ``.ipynb``
file: its cells become a notebook document (``leaflint.notebook``: code cells as one module,
IPython syntax blanked) and each finding comes back with its cell.
"""

from __future__ import annotations

import io
import json
import os
import re
import tokenize
from dataclasses import dataclass, field
from typing import Optional, Sequence

from leaflint import fix as fixes
from leaflint import notebook
from leaflint.config import ConfigError, Resolver
from leaflint.engine import lint_bytes, lint_source
from leaflint.findings import Edit, Finding, Position
from leaflint.rules import DIAGNOSTIC_CODES, REGISTRY
from leaflint.source import UnreadableSource, decode

LINE_BREAK = re.compile(r"\r\n|\r|\n")  # the engine's (and libcst's) idea of a line
PYTHON_SUFFIXES = (".py", ".pyi")
PYTHON_LANGUAGES = ("python", "python3", "ipython")
CONFIG_NAME = "pyproject.toml"
# Files whose change can change what is linted and how: the configuration, and the .gitignore
# files that decide (with respect-gitignore) which files are excluded.
WATCHED_NAMES = (CONFIG_NAME, ".gitignore")


def split_lines(text: str) -> list[str]:
    return LINE_BREAK.split(text)


@dataclass(frozen=True)
class Cell:
    uri: str
    text: str
    version: Optional[int]
    code: bool  # a Python code cell (markdown and cells of other languages are not linted)


@dataclass(frozen=True)
class Snapshot:
    """One state of a document (``cells`` empty) or of a notebook, with the configuration
    generation it is linted under; ``token`` tells a stale result from a current one."""

    uri: str
    path: str  # where the file is (or would be): its configuration, the findings' filename
    version: Optional[int]
    generation: int
    text: str = ""
    cells: tuple[Cell, ...] = ()
    metadata: dict = field(default_factory=dict)
    notebook: bool = False

    @property
    def token(self) -> tuple:
        return (self.version, self.generation)

    def texts(self) -> dict[str, str]:
        """uri -> text of every document the snapshot holds (the cells of a notebook)."""
        if not self.notebook:
            return {self.uri: self.text}
        return {cell.uri: cell.text for cell in self.cells}

    def targets(self) -> list[tuple[str, Optional[int]]]:
        """(uri, version) of the documents diagnostics are published for."""
        if not self.notebook:
            return [(self.uri, self.version)]
        return [(cell.uri, cell.version) for cell in self.cells]


@dataclass
class Problem:
    """A finding placed in the document that shows it (a notebook's cell). ``edits`` is its fix
    as (document uri, edit) pairs, or None when it has none the editor can apply."""

    finding: Finding  # rows relative to ``target``
    target: str
    edits: Optional[list[tuple[str, Edit]]] = None


@dataclass
class Outcome:
    snapshot: Snapshot
    problems: list[Problem] = field(default_factory=list)
    excluded: bool = False  # the configuration excludes the file: nothing is reported
    error: Optional[str] = None  # a configuration error: nothing could be linted
    traceback: Optional[str] = None  # an internal error: of the engine (an LL003 finding) or ``failed``
    failed: bool = False  # the server failed on this snapshot: nothing to publish


def is_python(uri: str, language_id: Optional[str]) -> bool:
    if language_id:
        return language_id.lower() in PYTHON_LANGUAGES
    return uri.lower().endswith(PYTHON_SUFFIXES)


def is_config(path: Optional[str]) -> bool:
    """A file whose change means the configuration must be resolved again."""
    return path is not None and os.path.basename(path) in WATCHED_NAMES


def encode_like_file(text: str) -> bytes:
    """The bytes the editor's text would be on disk: in the encoding its PEP 263 cookie declares
    (so the engine decodes exactly this text back), else UTF-8. A character that encoding cannot
    hold becomes one ``?`` (columns stay right); an invalid cookie is left for the engine to
    report, as ``leaflint check`` does."""
    data = text.encode("utf-8", errors="surrogatepass")
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError:
        return data
    if encoding in ("utf-8", "utf-8-sig"):
        return data
    try:
        return text.encode(encoding, errors="replace")
    except LookupError:
        return data


class Project:
    """The configuration, resolved as ``leaflint check`` resolves it (nearest ``pyproject.toml``
    with ``[tool.leaflint]``, per-file ignores, excludes as with ``--force-exclude``), cached
    until ``reload``; ``generation`` counts the reloads."""

    def __init__(self) -> None:
        self.generation = 0
        self._resolver: Optional[Resolver] = None
        self._discovery = None
        self._rules: dict[tuple[str, ...], list] = {}
        self._excluded: dict[str, bool] = {}
        self._indexes: dict[str, object] = {}  # project root -> leaflint.index.run.IndexRun
        self._saved: list[str] = []  # files saved since the last lint (appended by the event loop)

    def reload(self) -> None:
        self.generation += 1
        self._resolver = None
        self._discovery = None
        self._excluded = {}
        self._indexes = {}

    def saved(self, path: str) -> None:
        """A file was saved: the project index reads it again (at the next lint, on the thread
        that lints, so the index is only ever touched there)."""
        self._saved.append(path)

    def index_request(self, path: str, text: str, codes: tuple[str, ...]):
        """The project index's request for a document (``engine.IndexRequest``), from the
        cached index (``.leaflint_cache``, as ``leaflint check`` uses it), refreshed for the files
        saved since; None when the document is not a Python file under a project root."""
        from leaflint.cache import Cache
        from leaflint.checking import index_root
        from leaflint.index.run import IndexRun

        while self._saved:
            saved = self._saved.pop(0)
            for index in self._indexes.values():
                index.forget(saved)  # type: ignore[attr-defined]
        root = index_root([path])
        index = self._indexes.get(root)
        if index is None:
            cache = Cache.open(self.resolver.cache_dir([path]), [path])
            self.resolver.for_path(path)  # builds the discovery
            index = self._indexes[root] = IndexRun(root, self._discovery, cache)
        return index.request_for(path, text, codes)  # type: ignore[attr-defined]

    @property
    def resolver(self) -> Resolver:
        if self._resolver is None:
            self._resolver = Resolver()
            self._discovery = self._resolver.discovery(force_exclude=True)
        return self._resolver

    def excluded(self, path: str) -> bool:
        """Would ``leaflint check --force-exclude PATH`` skip the file? (Cached per path.)"""
        excluded = self._excluded.get(path)
        if excluded is None:
            if self._discovery is None:
                self.resolver.for_path(path)  # builds the resolver and its discovery
            excluded = self._excluded[path] = self._discovery.force_excluded(path)
        return excluded

    def rules(self, path: str) -> list:
        codes = self.resolver.for_path(path).rules
        rules = self._rules.get(codes)
        if rules is None:
            rules = self._rules[codes] = [REGISTRY[code]() for code in codes]
        return rules

    def keep(self, findings: Sequence[Finding]) -> list[Finding]:
        return self.resolver.filter(findings)


# ------------------------------------------------------------------------------------ linting
def lint(snapshot: Snapshot, project: Project) -> Outcome:
    """The findings of one snapshot. The engine turns syntax errors, unreadable text and its own
    failures into LL001/LL002/LL003 findings; a configuration error makes an ``Outcome`` with
    ``error`` set and no problems."""
    outcome = Outcome(snapshot)
    try:
        if project.excluded(snapshot.path):
            outcome.excluded = True
            return outcome
        rules = project.rules(snapshot.path)
        if snapshot.notebook:
            data = notebook_bytes(snapshot)
            result = lint_bytes(data, snapshot.path, rules)
            outcome.problems = _notebook_problems(snapshot, data, project.keep(result.findings))
        else:
            codes = tuple(rule.code for rule in rules)
            request = project.index_request(snapshot.path, snapshot.text, codes) \
                if snapshot.path.endswith(".py") else None
            result = lint_bytes(encode_like_file(snapshot.text), snapshot.path, rules, request)
            # (a write in another module that this document's call makes a finding is reported
            # there by ``leaflint check``; the document's diagnostics are its own)
            own = [f for f in result.findings if request is None or f.filename == snapshot.path]
            outcome.problems = [Problem(f, snapshot.uri, _edits(f, snapshot.uri)) for f in project.keep(own)]
    except ConfigError as exc:
        outcome.error = str(exc)
        return outcome
    outcome.traceback = result.traceback
    return outcome


def _edits(finding: Finding, uri: str) -> Optional[list[tuple[str, Edit]]]:
    if finding.fix is None:
        return None
    return [(uri, edit) for edit in finding.fix.edits]


def notebook_bytes(snapshot: Snapshot) -> bytes:
    """The notebook as an ``.ipynb`` document: every cell in order (so cell numbers are the
    notebook's), Python code cells as code, the others as markdown (not linted)."""
    cells = [{"cell_type": "code" if cell.code else "markdown", "metadata": {}, "source": cell.text,
              **({"outputs": [], "execution_count": None} if cell.code else {})}
             for cell in snapshot.cells]
    document = {"cells": cells, "metadata": snapshot.metadata or {}, "nbformat": 4, "nbformat_minor": 5}
    return json.dumps(document, indent=1, ensure_ascii=False).encode("utf-8")


def _notebook_problems(snapshot: Snapshot, data: bytes, findings: Sequence[Finding]) -> list[Problem]:
    """Findings (rows relative to their cell) placed in their cell's document. A fix's edits are
    placed in the cells they touch (an import a fix adds goes to the first code cell)."""
    try:
        parsed = notebook.parse(data)
    except notebook.NotebookError:  # the engine reported it (LL002) on the notebook's first cell
        parsed = notebook.Notebook()
    first_rows = {cell.number: cell.first_row for cell in parsed.cells}
    uris = [cell.uri for cell in snapshot.cells]
    problems = []
    for finding in findings:
        number = finding.cell if finding.cell is not None else (parsed.cells[0].number if parsed.cells else 1)
        if not 1 <= number <= len(uris):
            continue
        edits = None
        if finding.fix is not None and number in first_rows:
            offset = first_rows[number] - 1
            edits = []
            for edit in finding.fix.edits:
                start_cell, start_row = parsed.locate(edit.start.row + offset)
                end_cell, end_row = parsed.locate(edit.end.row + offset)
                if start_cell != end_cell:  # spans two cells: not one document's edit
                    edits = None
                    break
                edits.append((uris[start_cell - 1], Edit(Position(start_row, edit.start.column),
                                                         Position(end_row, edit.end.column), edit.content)))
        problems.append(Problem(finding, uris[number - 1], edits))
    return problems


# --------------------------------------------------------------------------------- fix-all
def fix_all(snapshot: Snapshot, project: Project) -> Optional[dict[str, str]]:
    """``--fix`` on the snapshot: the safe fixes, applied in verified rounds (``leaflint.fix``).
    Returns uri -> new text of every document that changes (None: configuration error)."""
    try:
        if project.excluded(snapshot.path):
            return {}
        rules = project.rules(snapshot.path)
    except ConfigError:
        return None

    def lint_text(text: str, name: str) -> list:
        return lint_source(text, name, rules)

    if not snapshot.notebook:
        data = encode_like_file(snapshot.text)
        try:
            if decode(data).text != snapshot.text:  # characters its encoding cannot hold: leave it
                return {}
            result = fixes.fix_bytes(data, snapshot.path, lint_text, False, project.keep)
            return {snapshot.uri: decode(result.after).text} if result.changed else {}
        except UnreadableSource:
            return {}
    result = fixes.fix_bytes(notebook_bytes(snapshot), snapshot.path, lint_text, False, project.keep)
    if not result.changed:
        return {}
    cells = json.loads(result.after)["cells"]
    changed = {}
    for cell, raw in zip(snapshot.cells, cells):
        text = raw["source"] if isinstance(raw["source"], str) else "".join(raw["source"])
        if text != cell.text:
            changed[cell.uri] = text
    return changed


# ------------------------------------------------------------------------------------ noqa
_NOQA_CODES = re.compile(r"#\s*noqa\s*:\s*[A-Za-z0-9]+(?:\s*,\s*[A-Za-z0-9]+)*", re.IGNORECASE)


def noqa_edit(text: str, finding: Finding) -> Optional[Edit]:
    """The edit that adds ``# noqa: CODE`` where it silences ``finding``: the end of its first
    row (or, when that row ends inside a multi-line string or with a backslash continuation, of
    its last row); an existing ``# noqa: A`` there gets the code appended. None for diagnostics
    (LL001-LL003, which cannot be silenced) and when no row can take a comment."""
    if finding.code in DIAGNOSTIC_CODES:
        return None
    lines = split_lines(text)
    inside = _rows_inside_strings(text)
    for row in dict.fromkeys((finding.location.row, finding.end_location.row)):
        if not 1 <= row <= len(lines) or row in inside:
            continue
        line = lines[row - 1]
        if line.rstrip().endswith("\\"):
            continue
        existing = _NOQA_CODES.search(line)
        if existing is not None:
            end = existing.end() + 1
            return Edit(Position(row, end), Position(row, end), f", {finding.code}")
        content = line.rstrip()
        return Edit(Position(row, len(content) + 1), Position(row, len(line) + 1), f"  # noqa: {finding.code}")
    return None


def _rows_inside_strings(text: str) -> set[int]:
    """Rows whose end lies inside a multi-line string (a comment there would be string text)."""
    rows: set[int] = set()
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.STRING and token.end[0] > token.start[0]:
                rows.update(range(token.start[0], token.end[0]))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        pass  # unterminated code: the rows seen so far are all we know
    return rows

"""One file through the pipeline (read, prefilter, parse, model, rules, suppressions), and many
files through a process pool."""

from __future__ import annotations

import os
import re
import traceback
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Iterable, Optional, Sequence

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from leaflint import suppress
from leaflint.files import Discovery, PathError
from leaflint.findings import Finding, Position
from leaflint.model import build_model
from leaflint.rules import INTERNAL_ERROR, SYNTAX_ERROR, UNREADABLE, Rule, select_rules
from leaflint.source import UnreadableSource, decode, first_line, syntax_error_position

# A file that mentions none of these cannot hold a finding: every rule needs a leaf source
# (torch factories, nn.Parameter, a layer, .parameters(), param_groups) or a backward().
PREFILTER = re.compile(r"torch|Parameter|parameters\(|param_groups|backward|\bnn\.")


@dataclass
class Selection:
    select: Optional[tuple[str, ...]] = None
    ignore: tuple[str, ...] = ()
    extend_select: tuple[str, ...] = ()

    def rules(self) -> list[Rule]:
        return select_rules(self.select, self.ignore, self.extend_select)


@dataclass
class FileResult:
    filename: str
    findings: list[Finding] = field(default_factory=list)
    internal_error: bool = False
    traceback: Optional[str] = None


@dataclass
class CheckResult:
    findings: list[Finding]
    errors: list[PathError]
    files: int
    internal_errors: list[FileResult] = field(default_factory=list)


def diagnostic(code_name: tuple[str, str], filename: str, row: int, column: int, message: str) -> Finding:
    return Finding(code=code_name[0], name=code_name[1], message=message, filename=filename,
                   location=Position(row, column), end_location=Position(row, column))


def lint_source(text: str, filename: str, rules: Sequence[Rule]) -> list[Finding]:
    """Findings of ``rules`` on one module's text (syntax errors become LL001)."""
    if not PREFILTER.search(text):
        return []
    try:
        module = cst.parse_module(text)
    except cst.ParserSyntaxError as exc:
        row, column, message = syntax_error_position(
            text, (exc.raw_line, exc.raw_column + 1, first_line(exc.message)))
        return [diagnostic(SYNTAX_ERROR, filename, row, column, message)]
    except RecursionError:
        row, column, message = syntax_error_position(text, (1, 1, "too deeply nested to parse"))
        return [diagnostic(SYNTAX_ERROR, filename, row, column, message)]
    model = build_model(module)
    reports = [(rule, report) for rule in rules for report in rule.check(model)]
    if not reports:
        return []
    positions = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    suppressions = suppress.parse(text)
    findings = []
    seen = set()
    for rule, report in reports:
        span = positions[report.node]
        start = Position(span.start.line, span.start.column + 1)
        end = Position(span.end.line, span.end.column + 1)
        key = (rule.code, start, end)
        if key in seen:
            continue
        seen.add(key)
        if suppressions.suppresses(rule.code, (start.row, end.row)):
            continue
        findings.append(Finding(rule.code, rule.name, report.message, filename, start, end, report.fix))
    return findings


def lint_file(path: str, rules: Sequence[Rule]) -> FileResult:
    result = FileResult(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        result.findings.append(diagnostic(UNREADABLE, path, 1, 1, f"cannot read file: {exc.strerror or exc}"))
        return result
    try:
        source = decode(data)
    except UnreadableSource as exc:
        result.findings.append(diagnostic(UNREADABLE, path, 1, 1, str(exc)))
        return result
    try:
        result.findings.extend(lint_source(source.text, path, rules))
    except Exception as exc:  # a bug in leaflint: report it for this file, keep the others
        result.internal_error = True
        result.traceback = traceback.format_exc()
        result.findings.append(diagnostic(
            INTERNAL_ERROR, path, 1, 1,
            f"internal error while checking this file ({type(exc).__name__}: {first_line(str(exc))}); "
            f"please report it with the file attached (--verbose shows the traceback)"))
    return result


_WORKER_RULES: list[Rule] = []


def _init_worker(selection: Selection) -> None:
    _WORKER_RULES[:] = selection.rules()


def _lint_in_worker(path: str) -> FileResult:
    return lint_file(path, _WORKER_RULES)


def lint_files(paths: Sequence[str], selection: Selection, jobs: Optional[int] = None) -> list[FileResult]:
    jobs = jobs or os.cpu_count() or 1
    if jobs <= 1 or len(paths) < 32:
        rules = selection.rules()
        return [lint_file(p, rules) for p in paths]
    chunk = max(1, min(64, len(paths) // (jobs * 8)))
    with ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker, initargs=(selection,)) as pool:
        return list(pool.map(_lint_in_worker, paths, chunksize=chunk))


def check_paths(paths: Iterable[str], select: Optional[Iterable[str]] = None, ignore: Iterable[str] = (),
                extend_select: Iterable[str] = (), discovery: Optional[Discovery] = None,
                jobs: Optional[int] = None) -> CheckResult:
    """Lint every source file under ``paths``; findings sorted by file, row, column."""
    selection = Selection(tuple(select) if select is not None else None, tuple(ignore), tuple(extend_select))
    selection.rules()  # validate selectors before any work
    discovery = discovery or Discovery()
    files = list(discovery.discover(list(paths)))
    results = lint_files(files, selection, jobs)
    findings = sorted((f for r in results for f in r.findings), key=Finding.sort_key)
    return CheckResult(findings, discovery.errors, len(files), [r for r in results if r.internal_error])

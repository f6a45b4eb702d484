"""One file through the pipeline (read, prefilter, parse, model, rules, suppressions), and many
files through a process pool."""

from __future__ import annotations

import gc
import os
import re
import sys
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Optional, Sequence

from leaflint import suppress
from leaflint.cache import Cache, KeyMaker
from leaflint.files import NOTEBOOK_SUFFIX, Discovery, PathError
from leaflint.findings import INTERNAL_ERROR, SYNTAX_ERROR, UNREADABLE, Finding, Position
from leaflint.source import (UnreadableSource, call_with_deep_stack, decode, deep_syntax_error, first_line,
                             read_bytes, too_deep, too_large)

# libcst, the model and the rules are imported where they are used: a run whose every file
# is a cache hit (or is skipped by the prefilter) never pays for importing them.
if TYPE_CHECKING:
    from leaflint.positions import Positions
    from leaflint.rules import Rule

# A file that contains none of these words cannot hold a rule finding, so it is not parsed.
# Every finding needs a leaf that requires grad, or (LL201) a backward() call, and the model
# gets those only from: a qualified name through an import of torch (factories, nn.Parameter,
# layers, annotations, torch.autograd.*: the import's text says "torch"); `.parameters()` /
# `.named_parameters()`; `.param_groups`; `.requires_grad_()` on a tensor expression (which
# needs no torch import: `self.w.detach().requires_grad_()`); `.backward()` /
# `.*backward(` calls. Identifiers are single tokens, so spacing (`m.parameters ()`) and line
# breaks cannot split a word. A skipped file still gets CPython's parser (an AST only, a few
# milliseconds per thousand lines, no libcst): every checked file's syntax error is an LL001.
# Keep this in step with leaflint/model/ (evaluate.py, collect.py); tests/test_cache.py checks the corpus-style
# cases. On the benchmark corpus it skips 28% of the files (6% of the lines) in 0.1 us/line.
PREFILTER = re.compile(r"torch|parameters|param_groups|requires_grad_|backward")


@dataclass
class Selection:
    select: Optional[tuple[str, ...]] = None
    ignore: tuple[str, ...] = ()
    extend_select: tuple[str, ...] = ()

    def rules(self) -> list[Rule]:
        from leaflint.rules import select_rules

        return select_rules(self.select, self.ignore, self.extend_select)

    def codes(self) -> tuple[str, ...]:
        from leaflint.rules import select_codes

        return select_codes(self.select, self.ignore, self.extend_select)


@dataclass
class FileResult:
    filename: str
    findings: list[Finding] = field(default_factory=list)
    internal_error: bool = False
    traceback: Optional[str] = None
    summary: Optional[dict] = None  # the module's summary for the project index (when asked for)


@dataclass
class IndexRequest:
    """A file's place in the project index (``leaflint.index``): its path from the root, its
    module and package, the dotted modules its imports resolve to (-> path from the root), and
    the digests of the summaries it reads (part of its cache key). The summaries themselves are
    in ``PROJECT_SUMMARIES`` (path from the root -> summary). Linting the file fills ``summary``."""

    root: str
    rel: str
    module: str
    package: str
    modules: dict[str, str]
    extra: str = ""
    summary: Optional[dict] = None

    def view(self):
        from leaflint.model.project import ProjectView

        return ProjectView(self.rel, self.module, self.package or None, self.modules, PROJECT_SUMMARIES)


# The summaries of the project's modules analysed so far (filled by ``leaflint.index.run`` wave
# by wave; forked workers inherit it, spawned ones receive it).
PROJECT_SUMMARIES: dict[str, dict] = {}


@dataclass
class CheckResult:
    findings: list[Finding]
    errors: list[PathError]
    files: int
    internal_errors: list[FileResult] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)  # the files checked, in discovery order


def diagnostic(code_name: tuple[str, str], filename: str, row: int, column: int, message: str) -> Finding:
    return Finding(code=code_name[0], name=code_name[1], message=message, filename=filename,
                   location=Position(row, column), end_location=Position(row, column))


def lint_source(text: str, filename: str, rules: Sequence[Rule],
                request: Optional[IndexRequest] = None) -> list[Finding]:
    """Findings of ``rules`` on one module's text (syntax errors become LL001).

    With a ``request`` the analysis reads the project index (the summaries of the modules this
    one imports), and ``request.summary`` receives this module's own summary.

    Hostile text gets one diagnostic instead of an analysis: too large (LL002), nested deeper
    than CPython accepts (LL001). The parse and the analysis run on a deep stack, so deeply
    nested code that CPython accepts is analysed, not a crash of the whole run."""
    if not PREFILTER.search(text):
        return syntax_errors(text, filename)
    reason = too_large(text)
    if reason is not None:
        return [diagnostic(UNREADABLE, filename, 1, 1, reason)]
    refused = too_deep(text)
    if refused is not None:
        return [diagnostic(SYNTAX_ERROR, filename, *refused)]
    try:
        with _collector_paused():
            return call_with_deep_stack(_lint_source, text, filename, rules, request)
    except RecursionError:
        refused = deep_syntax_error(text)
        if refused is not None:
            return [diagnostic(SYNTAX_ERROR, filename, *refused)]
        return [diagnostic(UNREADABLE, filename, 1, 1, "nested too deeply for leaflint to analyse "
                           "(maximum recursion depth exceeded); please report it")]


def syntax_errors(text: str, filename: str) -> list[Finding]:
    """LL001 for ``text`` from CPython's own parser (the check of the files the prefilter skips:
    they hold no rule finding, but a syntax error is still the user's to know)."""
    refused = deep_syntax_error(text)
    return [] if refused is None else [diagnostic(SYNTAX_ERROR, filename, *refused)]


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for one file, then one collection of the youngest
    generation. The semantic model's objects refer to each other (functions, their nested
    functions, the contexts of their facts), so each file ends as cyclic garbage that holds much
    of its syntax tree. Left on, the collector walks the trees again and again while they are
    built and promoted (about a fifth of a check); paused, it walks each file's garbage once."""
    if not gc.isenabled():  # the host turned it off: leave it so
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect(0)


def _lint_source(text: str, filename: str, rules: Sequence[Rule],
                 request: Optional[IndexRequest] = None) -> list[Finding]:
    if not PREFILTER.search(text):
        return []
    import libcst as cst

    from leaflint.model import build_model
    try:
        module = cst.parse_module(text)
    except cst.ParserSyntaxError as exc:
        python = deep_syntax_error(text)
        if python is None:  # Python accepts it: a limit of libcst's parser, not the user's error
            return [diagnostic(UNREADABLE, filename, exc.raw_line, exc.raw_column + 1,
                               f"leaflint's parser (libcst) cannot parse this file, though Python can "
                               f"({first_line(exc.message)}); please report it")]
        return [diagnostic(SYNTAX_ERROR, filename, *python)]
    model = build_model(module, request.view() if request is not None else None)
    reports = [(rule, report) for rule in rules for report in rule.check(model)]
    lazy: dict = {}

    def positions() -> Positions:
        if "positions" not in lazy:
            from leaflint.positions import Positions  # (only where there are findings or summarised writes)

            lazy["positions"] = Positions(module, text)
        return lazy["positions"]

    def suppressions() -> suppress.Suppressions:
        if "suppressions" not in lazy:
            lazy["suppressions"] = suppress.parse(text)
        return lazy["suppressions"]

    if request is not None:
        from leaflint.model.project import summarise

        def where(node) -> tuple[int, int, int, int]:
            span = positions()[node]
            return span.start.line, span.start.column + 1, span.end.line, span.end.column + 1

        request.summary = summarise(model, request.rel, where,
                                    lambda code, span: suppressions().suppresses(code, (span[0], span[2])))
    findings = []
    seen = set()
    for rule, report in reports:
        if report.at is not None:  # a write in another module of the project: reported there
            spot = report.at
            if rule.code in spot.noqa or request is None:  # type: ignore[attr-defined]
                continue
            row, column, end_row, end_column = spot.span  # type: ignore[attr-defined]
            where_file = os.path.join(request.root, *spot.file.split("/"))  # type: ignore[attr-defined]
            from leaflint.files import display_path

            found = Finding(rule.code, rule.name, report.message, display_path(where_file),
                            Position(row, column), Position(end_row, end_column), detail=report.detail)
            key = (rule.code, found.filename, found.location, found.end_location)
            if key not in seen:
                seen.add(key)
                findings.append(found)
            continue
        span = positions()[report.node]
        start = Position(span.start.line, span.start.column + 1)
        end = Position(span.end.line, span.end.column + 1)
        key = (rule.code, start, end)
        if key in seen:
            continue
        seen.add(key)
        if suppressions().suppresses(rule.code, (start.row, end.row)):
            continue
        from leaflint.fix.context import resolve  # (the fix modules only where a rule reports)

        findings.append(Finding(rule.code, rule.name, report.message, filename, start, end,
                                resolve(report.fix, module, positions()), detail=report.detail))
    return findings


def lint_file(path: str, rules: Sequence[Rule]) -> FileResult:
    try:
        data = read_bytes(path)
    except OSError as exc:
        return _unreadable(path, exc)
    return lint_bytes(data, path, rules)


def _unreadable(path: str, exc: OSError) -> FileResult:
    return FileResult(path, [diagnostic(UNREADABLE, path, 1, 1, f"cannot read file: {exc.strerror or exc}")])


def lint_bytes(data: bytes, path: str, rules: Sequence[Rule], request: Optional[IndexRequest] = None) -> FileResult:
    """One file's findings from its bytes (a ``.ipynb`` path is read as a notebook); with a
    ``request``, read with the project index, and with the module's summary."""
    result = FileResult(path)
    try:
        if path.endswith(NOTEBOOK_SUFFIX):
            findings = _lint_notebook(data, path, rules)
        else:
            findings = lint_source(decode(data).text, path, rules, request)
            if request is not None:
                result.summary = request.summary if request.summary is not None else {}
    except UnreadableSource as exc:
        result.findings.append(diagnostic(UNREADABLE, path, 1, 1, str(exc)))
    except BaseException as exc:  # a bug in leaflint: report it for this file, keep the others
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise  # (BaseException: pyo3 turns a panic in libcst's native parser into one)
        result.internal_error = True
        result.traceback = traceback.format_exc()
        result.findings.append(diagnostic(
            INTERNAL_ERROR, path, 1, 1,
            f"internal error while checking this file ({type(exc).__name__}: {first_line(str(exc))}); "
            f"please report it with the file attached (--verbose shows the traceback)"))
    else:
        result.findings.extend(findings)
    return result


def _lint_notebook(data: bytes, path: str, rules: Sequence[Rule]) -> list[Finding]:
    """A notebook's findings (``leaflint.notebook``, imported only for notebooks); a notebook that
    cannot be read raises ``UnreadableSource`` with its reason."""
    from leaflint import notebook

    try:
        return notebook.lint(data, path, lambda text, name: lint_source(text, name, rules))
    except notebook.NotebookError as exc:
        raise UnreadableSource(str(exc)) from None


# ----------------------------------------------------------------------------- many files
# Below this much source to parse (bytes, summed over the files that miss the cache and pass
# the prefilter) one process is faster than a pool: starting and feeding workers costs tens of
# milliseconds, parsing 64 KB about a third of a second.
POOL_MIN_BYTES = 64 * 1024
# Where workers cannot be forked (macOS, Windows, a multi-threaded host) each one starts a fresh
# interpreter and imports libcst (~0.3 s): a pool pays off only for much more work.
POOL_MIN_BYTES_SPAWN = 2 * 1024 * 1024
# Files go to the workers in chunks: at least 12 per worker and at most 64 files each, dealt
# from the files sorted by size like cards, so every chunk holds big and small files and about
# the same amount of work (no worker is left alone with one huge file at the end).
_CHUNKS_PER_WORKER = 12
_CHUNK_MAX_FILES = 64
# Memory. libcst's native parser needs about 400 bytes per byte of source while it runs, and
# the C allocator keeps what it frees: a worker would stay at the high-water mark of the largest
# file it ever parsed. After a file of TRIM_BYTES or more the freed memory goes back to the
# system; and only one worker at a time parses a file of BIG_FILE_BYTES or more (the others
# go on with smaller files meanwhile), so two 300 KB files never peak together.
TRIM_BYTES = 64 * 1024
BIG_FILE_BYTES = 128 * 1024


def may_hold_findings(data: bytes, path: str) -> bool:
    """False when the prefilter proves that the file holds no rule finding (same test as
    ``lint_source``, which then only asks CPython's parser for a syntax error). Undecodable
    bytes and notebooks say True: the pipeline reports them."""
    if path.endswith(NOTEBOOK_SUFFIX):
        return True
    try:
        text = decode(data).text
    except UnreadableSource:
        return True
    return PREFILTER.search(text) is not None


def _rules_for(codes: tuple[str, ...], memo: dict) -> list[Rule]:
    rules = memo.get(codes)
    if rules is None:
        with _importing():
            from leaflint.rules import REGISTRY

        rules = memo[codes] = [REGISTRY[code]() for code in sorted(codes)]
    return rules


@contextmanager
def _importing() -> Iterator[None]:
    """Python's cyclic garbage collector off while the rules, the model and libcst are imported
    (the first time), and what they made frozen afterwards. Imports make thousands of objects that
    live as long as the process (classes, functions, their dictionaries) and little garbage; the
    collector, left on, walks the growing heap again and again while they are made (about a
    tenth of the time of importing them), and then in every full collection of the run.
    Frozen objects (``gc.freeze``) are never walked again; objects the import left as garbage
    stay until the process ends (a few, and only cyclic ones: refcounting still frees the rest)."""
    if "leaflint.rules.base" in sys.modules or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def _lint_one(path: str, codes: tuple[str, ...], keys: Optional[KeyMaker],
              memo: dict, request: Optional[IndexRequest] = None) -> tuple[Optional[str], FileResult]:
    """Read, key (from the bytes actually linted) and lint one file."""
    try:
        data = read_bytes(path)
    except OSError as exc:
        return None, _unreadable(path, exc)
    key = keys.key(data, path, request.extra if request is not None else "") if keys is not None else None
    result = lint_bytes(data, path, _rules_for(codes, memo), request)
    if len(data) >= TRIM_BYTES:
        del data
        _release_memory()
    return key, result


_MALLOC_TRIM: list = []


def _release_memory() -> None:
    """Return the memory the C allocator holds free to the system (glibc's malloc_trim)."""
    if not _MALLOC_TRIM:
        trim = None
        if sys.platform.startswith("linux"):
            try:
                import ctypes

                trim = ctypes.CDLL(None).malloc_trim
            except (OSError, AttributeError):  # not glibc (musl)
                trim = None
        _MALLOC_TRIM.append(trim)
    if _MALLOC_TRIM[0] is not None:
        _MALLOC_TRIM[0](0)


_WORKER: dict = {}


def _init_worker(keys: dict, big=None, summaries: Optional[dict] = None) -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    if summaries is not None and summaries is not PROJECT_SUMMARIES:  # a spawned worker
        PROJECT_SUMMARIES.clear()
        PROJECT_SUMMARIES.update(summaries)
    _WORKER["keys"] = keys
    _WORKER["rules"] = {}
    _WORKER["big"] = big  # a lock shared by the workers: held while parsing a big file


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _lint_chunk(chunk: list[tuple[int, str, tuple[str, ...], Optional[IndexRequest]]]
                ) -> list[tuple[int, Optional[str], FileResult]]:
    keys, memo, big = _WORKER["keys"], _WORKER["rules"], _WORKER.get("big")
    out, deferred = [], []
    for index, path, codes, request in chunk:
        if big is not None and _size(path) >= BIG_FILE_BYTES:
            if not big.acquire(block=False):  # another worker parses a big file: later
                deferred.append((index, path, codes, request))
                continue
            try:
                out.append((index, *_lint_one(path, codes, keys.get(codes), memo, request)))
            finally:
                big.release()
        else:
            out.append((index, *_lint_one(path, codes, keys.get(codes), memo, request)))
    for index, path, codes, request in deferred:
        with big:
            out.append((index, *_lint_one(path, codes, keys.get(codes), memo, request)))
    return out


def _mp_context():
    """fork where it is safe (Linux, no other thread running): workers inherit the imported
    modules and start in about a millisecond. Else the platform's default (spawn)."""
    import multiprocessing
    import threading

    if sys.platform.startswith("linux") and threading.active_count() == 1 \
            and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return None


def lint_groups(groups: Iterable[tuple[Sequence[str], Sequence[str]]], jobs: Optional[int] = None,
                progress: Optional[Callable[[int], None]] = None,
                cache: Optional[Cache] = None, index_root: Optional[str] = None,
                discovery: Optional[Discovery] = None, indexer=None) -> list[FileResult]:
    """Lint the files of ``groups`` (``(rule codes, paths)`` pairs); results in the order of the
    groups and of their paths, whatever the number of jobs.

    With ``index_root`` and an ``indexer`` (``leaflint.index.run.IndexRun``, passed in by
    ``leaflint.checking``, which sits above both), the Python files under it are analysed with
    the project index: in the order of their imports, each reading the summaries of the project
    modules it imports, read from ``cache`` or computed, its excludes from ``discovery``.

    Each file is read once here: the prefilter skips it, or its content hash finds its findings
    in ``cache`` (no parse, no libcst import), or it is parsed, in this process when the work is
    small, else in a pool of ``jobs`` (default: the core count) forked workers. ``progress(n)``
    is called as files are done."""
    items: list[tuple[str, tuple[str, ...], Optional[IndexRequest]]] = [
        (path, tuple(codes), None) for codes, paths in groups for path in paths]
    results: list[Optional[FileResult]] = [None] * len(items)
    todo: list[tuple[int, int]] = []  # (index, size in bytes) of the files to parse
    done: set[int] = set()
    if index_root is not None and indexer is not None:
        done = indexer(index_root, discovery, cache).lint(items, results, jobs or os.cpu_count() or 1, progress)
    for index, (path, codes, _) in enumerate(items):
        if index in done:
            continue
        try:
            data = read_bytes(path)
        except OSError as exc:
            results[index] = _unreadable(path, exc)
        else:
            if may_hold_findings(data, path):
                cached = cache.get(cache.keys(codes).key(data, path), path) if cache is not None else None
                if cached is None:
                    todo.append((index, len(data)))
                    continue
                results[index] = FileResult(path, cached)
            else:  # no rule finding possible: CPython's parser alone, for LL001 (not cached)
                results[index] = FileResult(path, syntax_errors(decode(data).text, path))
        if progress is not None:
            progress(1)
    if todo:
        parse_all(items, todo, results, jobs or os.cpu_count() or 1, progress, cache)
    return results  # type: ignore[return-value]


def parse_all(items: list[tuple[str, tuple[str, ...], Optional[IndexRequest]]], todo: list[tuple[int, int]],
               results: list[Optional[FileResult]], jobs: int,
               progress: Optional[Callable[[int], None]], cache: Optional[Cache]) -> None:
    keys = {codes: (cache.keys(codes) if cache is not None else None) for codes in {items[i][1] for i, _ in todo}}

    def done(index: int, key: Optional[str], result: FileResult) -> None:
        results[index] = result
        if cache is not None and key is not None and not result.internal_error:
            request = items[index][2]
            cache.put(key, result.findings, result.summary, result.filename,
                      request.root if request is not None else None)
        if progress is not None:
            progress(1)

    workers = min(jobs, len(todo))
    total = sum(size for _, size in todo)
    leftover = [(index, *items[index]) for index, _ in todo]
    context = _mp_context() if workers > 1 else None
    if workers > 1 and total >= (POOL_MIN_BYTES if context is not None else POOL_MIN_BYTES_SPAWN):
        leftover = _parse_in_pool(items, todo, workers, total, keys, done, context)
        leftover = _redo_alone(leftover, keys, done, context)
    memo: dict = {}
    for index, path, codes, request in leftover:
        done(index, *_lint_one(path, codes, keys[codes], memo, request))


def _parse_in_pool(items, todo, workers, total, keys, done, context) -> list:
    """Parse in forked workers; returns the files of chunks whose worker died (see _redo_alone)."""
    import gc
    from concurrent.futures import ProcessPoolExecutor, as_completed

    import libcst.metadata  # noqa: F401  (imported once here, inherited by every forked worker)

    import leaflint.rules  # noqa: F401

    ordered = [(index, *items[index]) for index, _ in sorted(todo, key=lambda item: -item[1])]
    count = min(len(ordered), max(workers * _CHUNKS_PER_WORKER, -(-len(ordered) // _CHUNK_MAX_FILES)))
    chunks = [ordered[start::count] for start in range(count)]  # biggest first within each
    failed: list[tuple[int, str, tuple[str, ...]]] = []
    if context is None:
        import multiprocessing

        big = multiprocessing.get_context().Lock()
    else:
        big = context.Lock()
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker,
                               initargs=(keys, big, PROJECT_SUMMARIES))
    try:
        # Forked workers start at the first submit; frozen objects are never scanned by their
        # garbage collector, so the pages they inherit stay shared instead of being copied.
        gc.freeze()
        try:
            futures = {pool.submit(_lint_chunk, chunk): chunk for chunk in chunks}
        finally:
            gc.unfreeze()
        for future in as_completed(futures):
            try:
                out = future.result()
            except Exception:  # the worker died (killed, out of memory): this process redoes it
                failed.extend(futures[future])
                continue
            for index, key, result in out:
                done(index, key, result)
    except BaseException:  # Ctrl-C: stop the workers now rather than after their chunks
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            process.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return failed


def _redo_alone(leftover, keys, done, context) -> list:
    """The files of chunks whose worker died, each in a worker of its own: a file that kills
    any process that checks it (a crash in native code) gets an LL003 diagnostic, the other
    files of its chunk their findings, and this process survives. Leaves nothing to redo."""
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    for entry in leftover:
        index, path = entry[0], entry[1]
        pool = ProcessPoolExecutor(max_workers=1, mp_context=context, initializer=_init_worker,
                                   initargs=(keys, None, PROJECT_SUMMARIES))
        try:
            [(index, key, result)] = pool.submit(_lint_chunk, [entry]).result()
        except Exception as exc:
            died = isinstance(exc, BrokenProcessPool)
            what = ("the process checking this file died (a crash in native code, or out of memory)" if died
                    else f"{type(exc).__name__}: {first_line(str(exc))}")
            key, result = None, FileResult(path, [diagnostic(
                INTERNAL_ERROR, path, 1, 1,
                f"internal error while checking this file ({what}); please report it with the file attached")],
                internal_error=True,
                traceback="no traceback: the worker process died\n" if died else traceback.format_exc())
        finally:
            pool.shutdown()
        done(index, key, result)
    return []


def lint_files(paths: Sequence[str], selection: Selection, jobs: Optional[int] = None,
               progress: Optional[Callable[[int], None]] = None,
               cache: Optional[Cache] = None) -> list[FileResult]:
    """``progress(n)``, when given, is called as results come in (n files done)."""
    return lint_groups([(selection.codes(), paths)], jobs, progress, cache)


def check_paths(paths: Iterable[str], select: Optional[Iterable[str]] = None, ignore: Iterable[str] = (),
                extend_select: Iterable[str] = (), discovery: Optional[Discovery] = None,
                jobs: Optional[int] = None, resolver=None, progress=None, cache: bool = True,
                cache_dir: Optional[str] = None, indexer=None) -> CheckResult:
    """Lint every source file under ``paths``; findings sorted by file, row, column.

    With a ``resolver`` (``leaflint.config.Resolver``) each file gets the rules of its own
    configuration and its ``per-file-ignores``; ``select``/``ignore``/``extend_select`` are then
    unused (the resolver holds the command line's). ``progress`` (``report.progress.Progress``)
    is told the number of files, then each one done.

    ``cache``: read and write the content-hash cache (``leaflint.cache``) in ``cache_dir``
    (default: ``$LEAFLINT_CACHE_DIR``, else ``.leaflint_cache`` in the project root).

    ``indexer``: analyse the project's Python files with the project index (``leaflint.index``),
    rooted at ``index_root(paths)``, also when ``paths`` name only some of its files; None: each
    file on its own. ``leaflint.checking.check_paths`` is this with the index."""
    selection = Selection(tuple(select) if select is not None else None, tuple(ignore), tuple(extend_select))
    codes = selection.codes() if resolver is None else ()  # validate selectors before any work
    paths = list(paths)
    discovery = discovery or Discovery()
    files = list(discovery.discover(paths))
    advance = None
    if progress is not None:
        progress.start(len(files))
        advance = progress.advance
    if resolver is None:
        groups = [(codes, files)]
    else:
        groups = resolver.groups(files)
    store = Cache.open(cache_dir, paths) if cache else None
    root = index_root(paths) if indexer is not None else None
    results = lint_groups(groups, jobs, advance, store, root, discovery, indexer)
    findings = _unique(f for r in results for f in r.findings)
    if resolver is not None:
        findings = resolver.filter(findings)
    findings = sorted(findings, key=Finding.sort_key)
    return CheckResult(findings, discovery.errors, len(files), [r for r in results if r.internal_error], files)


def index_root(paths: Sequence[str]) -> str:
    """The project index's root: the cache's project root (``pyproject.toml`` or ``.git`` at or
    above the first path), unless the first path is outside it (then that path's directory)."""
    from leaflint.cache import project_root

    first = os.path.abspath(paths[0]) if paths else os.getcwd()
    root = project_root([first])
    if first != root and not first.startswith(root.rstrip(os.sep) + os.sep):
        root = first if os.path.isdir(first) else os.path.dirname(first)
    return root


def _unique(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per (file, code, span): two modules that pass a leaf to the same helper of a
    third both report its write there, once."""
    seen, out = set(), []
    for finding in findings:
        key = (finding.filename, finding.code, finding.location, finding.end_location, finding.cell)
        if key not in seen:
            seen.add(key)
            out.append(finding)
    return out

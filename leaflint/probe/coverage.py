"""Line coverage for not-reached verdicts (no torch).

Line 0 of a file means "its module code started running" (the file was executed at least in
part): files never started are out of the run's scope. Each first-seen line is appended at once to ``lines-<pid>.txt`` so forked workers and
crashes keep it. Only files under the project root count, and when the parent passed
target lines (the lines static findings sit on) only those lines are recorded.

Backends, cheapest first:

* Python 3.12+: ``sys.monitoring`` LINE events, DISABLE after the first hit of a location.
* Python 3.11 and older with target lines: the project files holding targets are compiled
  with one ``hit(...)`` call inserted before each statement that spans a target line
  (import hook for modules, ``child.py`` for the main script, a wrap of pytest's assertion
  rewriter for test files). Measured: ``sys.settrace`` alone costs 10-35% of a 1 ms training
  step even with a do-nothing C tracer, because every Python call goes through the
  trampoline; the inserted calls cost nothing measurable.
* Python 3.11 and older without target lines: ``sys.settrace`` + ``threading.settrace``.
"""

from __future__ import annotations

import ast
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading

from leaflint.probe.events import AppendFile
from leaflint.probe.project import Project


class LineCoverage:
    def __init__(self, project: Project, out: AppendFile, targets: dict[str, set[int]] | None):
        self.project = project
        self.out = out
        self.targets = targets
        self.seen: set[tuple[str, int]] = set()
        self._code_lines: dict = {}  # code -> frozenset of lines to record, or None
        self.backend = None

    # -- shared ---------------------------------------------------------------
    def _lines_for(self, code):
        try:
            return self._code_lines[code]
        except KeyError:
            pass
        result = None
        real = self.project.realpath(code.co_filename)
        if real is not None:
            lines = {ln for _, _, ln in code.co_lines() if ln is not None}
            if self.targets is not None:
                lines &= self.targets.get(real, set())
            lines = {ln for ln in lines if (real, ln) not in self.seen}
            if lines:
                result = (real, frozenset(lines))
        self._code_lines[code] = result
        return result

    def _module_started(self, code) -> None:
        if code.co_name == "<module>":
            real = self.project.realpath(code.co_filename)
            if real is not None and (self.targets is None or real in self.targets):
                self._record(real, 0)

    def _record(self, real: str, line: int) -> None:
        key = (real, line)
        if key not in self.seen:
            self.seen.add(key)
            self.out.write(f"{line}\t{real}\n")

    # -- settrace backend -------------------------------------------------------
    def _global_trace(self, frame, event, arg):
        if event != "call":
            return None
        self._module_started(frame.f_code)
        info = self._lines_for(frame.f_code)
        if info is None:
            return None
        real, lines = info
        remaining = set(ln for ln in lines if (real, ln) not in self.seen)
        if not remaining:
            self._code_lines[frame.f_code] = None
            return None
        record = self._record

        def local(frame, event, arg):
            if event == "line":
                ln = frame.f_lineno
                if ln in remaining:
                    remaining.discard(ln)
                    record(real, ln)
                    if not remaining:
                        return None
            return local

        return local

    def _start_settrace(self) -> None:
        sys.settrace(self._global_trace)
        threading.settrace(self._global_trace)
        # Frames already running (the caller chain) are not traced by settrace; the
        # program itself starts after this point, so that is fine.
        self.backend = "settrace"

    # -- sys.monitoring backend (3.12+) -------------------------------------------
    def _start_monitoring(self) -> bool:
        mon = getattr(sys, "monitoring", None)
        if mon is None:
            return False
        tool = None
        for candidate in (4, 3, 5, 2):  # 0-2 are debugger/coverage/profiler by convention
            try:
                mon.use_tool_id(candidate, "leaflint-probe")
                tool = candidate
                break
            except ValueError:
                continue
        if tool is None:
            return False
        disable = mon.DISABLE
        lines_for = self._lines_for
        record = self._record

        started = self._module_started

        def on_line(code, line):
            started(code)
            info = lines_for(code)
            if info is not None and line in info[1]:
                record(info[0], line)
            return disable

        mon.register_callback(tool, mon.events.LINE, on_line)
        mon.set_events(tool, mon.events.LINE)
        self.backend = "sys.monitoring"
        return True

    def start(self) -> None:
        if sys.version_info >= (3, 12) and self._start_monitoring():
            return
        if self.targets is not None:
            self._start_instrumenting()
            return
        self._start_settrace()

    # -- AST instrumentation backend (3.11 and older, targets known) ---------------
    def _start_instrumenting(self) -> None:
        global _ACTIVE
        from leaflint.probe import covhit

        covhit._SINK = self._record
        _ACTIVE = self
        sys.meta_path.insert(0, _InstrumentingFinder(self))
        _patch_runpy()
        self.backend = "instrument"

    def targets_for(self, filename: str) -> tuple[str, set[int]] | None:
        real = self.project.realpath(filename)
        if real is None or self.targets is None:
            return None
        lines = self.targets.get(real)
        return (real, lines) if lines else None


_ACTIVE: LineCoverage | None = None


def active_targets(filename: str) -> tuple[str, set[int]] | None:
    """(realpath, target lines) when ``filename`` is to be instrumented in this process."""
    if _ACTIVE is None:
        return None
    return _ACTIVE.targets_for(filename)


def instrument(tree: ast.Module, real: str, lines: set[int]) -> ast.Module:
    """Insert ``__leaflint_hit__(real, (lines...))`` before each innermost statement that
    spans a target line. Positions of the original nodes are unchanged."""
    todo = set(lines)
    if not todo:
        return tree

    def visit_body(body: list) -> list:
        out = []
        for stmt in body:
            start = getattr(stmt, "lineno", None)
            end = getattr(stmt, "end_lineno", None) or start
            inner_lines = set()
            if start is not None:
                mine = {ln for ln in todo if start <= ln <= end}
                if mine:
                    # Recurse first: a nested statement may claim some lines.
                    for field in ("body", "orelse", "finalbody", "handlers", "cases"):
                        sub = getattr(stmt, field, None)
                        if isinstance(sub, list) and sub:
                            if field in ("handlers", "cases"):
                                for h in sub:
                                    before = set(todo)
                                    h.body = visit_body(h.body)
                                    inner_lines |= before - todo
                            else:
                                before = set(todo)
                                setattr(stmt, field, visit_body(sub))
                                inner_lines |= before - todo
                    mine = {ln for ln in mine if ln in todo}
                    if mine:
                        todo.difference_update(mine)
                        out.append(_hit_stmt(stmt, real, sorted(mine)))
            out.append(stmt)
        return out

    body = tree.body
    # Keep the docstring and __future__ imports first.
    head = 0
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        head = 1
    while head < len(body) and isinstance(body[head], ast.ImportFrom) and body[head].module == "__future__":
        head += 1
    rest = visit_body(body[head:])
    imp = ast.ImportFrom(module="leaflint.probe.covhit", names=[ast.alias(name="hit", asname="__leaflint_hit__")],
                         level=0)
    anchor = body[head] if head < len(body) else None
    for node in ast.walk(imp):
        node.lineno = node.end_lineno = anchor.lineno if anchor is not None else 1
        node.col_offset = node.end_col_offset = 0
    started = _hit_stmt(anchor if anchor is not None else imp, real, [0])  # the module started
    tree.body = body[:head] + [imp, started] + rest
    ast.fix_missing_locations(tree)
    return tree


def _hit_stmt(anchor: ast.stmt, real: str, lines: list[int]) -> ast.stmt:
    call = ast.Expr(value=ast.Call(
        func=ast.Name(id="__leaflint_hit__", ctx=ast.Load()),
        args=[ast.Constant(value=real), ast.Tuple(elts=[ast.Constant(value=ln) for ln in lines], ctx=ast.Load())],
        keywords=[],
    ))
    for node in ast.walk(call):
        node.lineno = anchor.lineno
        node.col_offset = anchor.col_offset
        node.end_lineno = anchor.lineno
        node.end_col_offset = anchor.col_offset
    return call


def compile_instrumented(source, filename: str, real: str, lines: set[int]):
    tree = ast.parse(source, filename=filename)
    return compile(instrument(tree, real, lines), filename, "exec", dont_inherit=True)


class _InstrumentingLoader(importlib.machinery.SourceFileLoader):
    """Compiles a project module with its target-line hits; never reads or writes a pyc."""

    def __init__(self, fullname, path, real, lines):
        super().__init__(fullname, path)
        self._real = real
        self._lines = lines

    def get_code(self, fullname):
        source = self.get_data(self.path)
        try:
            return compile_instrumented(source, self.path, self._real, self._lines)
        except (SyntaxError, ValueError):
            return super().get_code(fullname)


class _InstrumentingFinder(importlib.abc.MetaPathFinder):
    def __init__(self, cov: LineCoverage):
        self.cov = cov

    def find_spec(self, fullname, path=None, target=None):
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or not spec.origin or not spec.origin.endswith(".py"):
            return None
        info = self.cov.targets_for(spec.origin)
        if info is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader):
            return None
        spec.loader = _InstrumentingLoader(fullname, spec.origin, info[0], info[1])
        return spec


def _patch_runpy() -> None:
    """``runpy.run_path`` (the child's own and the user's) compiles through this."""
    import runpy

    orig = getattr(runpy, "_get_code_from_file", None)
    if orig is None or getattr(orig, "_leaflint", False):
        return

    def _get_code_from_file(*args):
        result = orig(*args)
        try:
            code, fname = result
            info = active_targets(fname) if isinstance(fname, str) and fname.endswith(".py") else None
            if info is not None:
                with open(fname, "rb") as fh:
                    code = compile_instrumented(fh.read(), fname, info[0], info[1])
                return code, fname
        except (OSError, SyntaxError, ValueError, TypeError):  # unreadable, uncompilable: run it as runpy would
            pass
        return result

    _get_code_from_file._leaflint = True
    runpy._get_code_from_file = _get_code_from_file


def patch_pytest_rewrite(rewrite) -> None:
    """Instrument test files that pytest's assertion rewriter compiles itself."""
    orig_rewrite, orig_read, orig_write = rewrite._rewrite_test, rewrite._read_pyc, rewrite._write_pyc
    ours: set = set()

    def _rewrite_test(fn, config):
        info = active_targets(str(fn))
        if info is None:
            return orig_rewrite(fn, config)
        source = fn.read_bytes()
        source_hash = importlib.util.source_hash(source)
        tree = ast.parse(source, filename=str(fn))
        instrument(tree, info[0], info[1])
        rewrite.rewrite_asserts(tree, source, str(fn), config)
        co = compile(tree, str(fn), "exec", dont_inherit=True)
        ours.add(co)
        return source_hash, co

    def _read_pyc(source, pyc, trace=lambda x: None):
        if active_targets(str(source)) is not None:
            return None  # a cached pyc has no hits in it
        return orig_read(source, pyc, trace)

    def _write_pyc(state, co, source_stat, pyc):
        if co in ours:
            return True  # never cache instrumented code
        return orig_write(state, co, source_stat, pyc)

    rewrite._rewrite_test = _rewrite_test
    rewrite._read_pyc = _read_pyc
    rewrite._write_pyc = _write_pyc

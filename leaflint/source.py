"""Reading a file's text: PEP 263 cookies, BOM, binary detection; syntax-error positions; the
guards that keep hostile text (huge, nested too deeply) from stalling or crashing a run."""

from __future__ import annotations

import ast
import errno
import io
import os
import queue
import re
import stat
import sys
import threading
import tokenize
import warnings
from dataclasses import dataclass
from typing import Callable, Optional, TypeVar

T = TypeVar("T")

# Limits that keep one hostile file from stalling or killing the run (docs/reliability.md).
# libcst's parser is native code that recurses once per nesting level: on the main thread's
# 8 MB stack about 1,500 nested brackets (or 10,000 `and` operands) overflow it and the whole
# process dies with SIGSEGV; 10,000 nested unary minus take it 30 s and 5 GB. CPython's own
# parser refuses such nesting in microseconds (200 brackets, about 3,000 levels otherwise), so
# it looks at every file first (about 4% of the time of a check). Huge files are merely slow
# (about 10 s per MB).
MAX_SOURCE_CHARS = 2_000_000  # larger files get one LL002 diagnostic instead of an analysis
DEEP_STACK_BYTES = 512 * 1024 * 1024  # virtual; only the pages a deep file touches are used
DEEP_RECURSION_LIMIT = 50_000
# CPython's messages for sources it refuses as too deeply nested (other syntax errors are
# left to libcst: CPython's grammar is the running interpreter's, libcst's every version's).
_TOO_DEEP = re.compile(r"too many nested|too many levels|too many statically|too deeply|too complex")


class UnreadableSource(Exception):
    """The bytes are not Python source we can read (binary, bad encoding)."""


@dataclass
class SourceText:
    text: str
    encoding: str
    bom: bool
    newline: str


def decode(data: bytes) -> SourceText:
    if b"\x00" in data:
        raise UnreadableSource("binary file (contains NUL bytes), not Python source")
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:
        message = exc.msg if hasattr(exc, "msg") else str(exc)
        if not message.startswith("invalid or missing encoding declaration"):
            raise UnreadableSource(f"bad encoding declaration: {message}") from None
        # no cookie and a first line that is not UTF-8: say so (with the line) below
        encoding = "utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8"
    bom = data.startswith(b"\xef\xbb\xbf")
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        where = ""
        if isinstance(exc, UnicodeDecodeError):
            line = data[: exc.start].count(b"\n") + 1
            where = f" at line {line}"
            if encoding == "utf-8-sig":
                encoding = "utf-8"
        raise UnreadableSource(f"cannot decode as {encoding}{where}; add a PEP 263 coding cookie "
                               f"(e.g. `# -*- coding: latin-1 -*-`) or save the file as UTF-8") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    newline = "\r\n" if "\r\n" in text[:10000] else "\n"
    return SourceText(text, encoding, bom, newline)


def syntax_error_position(text: str, fallback: tuple[int, int, str]) -> tuple[int, int, str]:
    """Python's own (row, column, message) for a syntax error; 1-based row and column."""
    try:
        _compile(text)
    except SyntaxError as exc:
        row = exc.lineno or fallback[0]
        column = exc.offset or 1
        return row, max(column, 1), f"SyntaxError: {exc.msg}"
    except (ValueError, RecursionError, MemoryError) as exc:  # e.g. null bytes, too deeply nested
        return fallback[0], fallback[1], f"SyntaxError: {exc}"
    return fallback


def read_bytes(path: str) -> bytes:
    """The bytes of the regular file at ``path``. Anything else that can carry a ``.py`` name
    (a FIFO, which would block forever; a device such as ``/dev/zero``, which never ends; a
    directory) raises ``OSError`` with a message that says what it is, like an unreadable file."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OSError(exc.errno, "symlink loop (too many levels of symbolic links)", path) from None
        if exc.errno == errno.ENOENT and os.path.islink(path):
            raise OSError(exc.errno, "broken symlink (its target does not exist)", path) from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = ("a directory" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode)
                    else "a socket" if stat.S_ISSOCK(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                    else "not a regular file")
            raise OSError(errno.EINVAL, f"not a regular file ({kind})" if kind != "not a regular file" else kind, path)
        with os.fdopen(fd, "rb") as handle:
            fd = -1
            return handle.read()
    finally:
        if fd >= 0:
            os.close(fd)


def _compile(text: str) -> None:
    """CPython's parser on ``text`` (an AST only, nothing runs), its warnings silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compile(text, "<source>", "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True)


def too_large(text: str) -> Optional[str]:
    """Why ``text`` is too large to analyse, or None."""
    if len(text) <= MAX_SOURCE_CHARS:
        return None
    return (f"file too large to check ({len(text):,} characters; the limit is {MAX_SOURCE_CHARS:,}); "
            f"exclude it (generated code?) or split it")


def too_deep(text: str) -> Optional[tuple[int, int, str]]:
    """(row, column, message) when CPython's parser refuses ``text`` as nested too deeply
    (brackets, indentation, operator chains), else None."""
    refused = deep_syntax_error(text)
    if refused is None or not _TOO_DEEP.search(refused[2]):
        return None
    return refused


def deep_syntax_error(text: str) -> Optional[tuple[int, int, str]]:
    """CPython's verdict on ``text`` as (row, column, message) when it refuses it, else None."""
    try:
        _compile(text)
    except SyntaxError as exc:
        return exc.lineno or 1, max(exc.offset or 1, 1), f"SyntaxError: {exc.msg}"
    except (RecursionError, MemoryError, ValueError) as exc:
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return 1, 1, f"SyntaxError: nested too deeply; Python's own parser gives up too ({detail})"
    return None


class _DeepStackThread:
    """One long-lived thread with a large stack that runs the calls handed to it. (A fresh
    thread per file would cost about 10% of a check: new stack pages, a new frame stack.)"""

    def __init__(self) -> None:
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        old_size = threading.stack_size(DEEP_STACK_BYTES)
        try:
            self.thread = threading.Thread(target=self._loop, name="leaflint-deep-stack", daemon=True)
            self.thread.start()
        finally:
            threading.stack_size(old_size)

    def _loop(self) -> None:
        while True:
            fn, args, box, done = self.jobs.get()
            try:
                box["value"] = fn(*args)
            except BaseException as exc:  # noqa: B036 (handed to the caller)
                box["error"] = exc
            done.set()
            del fn, args, box, done


_DEEP: Optional[_DeepStackThread] = None  # or False: no such thread can be started here
_DEEP_LOCK = threading.Lock()


def _forget_deep_thread() -> None:  # a forked child has the object but not the thread
    global _DEEP, _DEEP_LOCK
    _DEEP, _DEEP_LOCK = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_deep_thread)


def call_with_deep_stack(fn: Callable[..., T], *args) -> T:
    """``fn(*args)`` on a thread with a large stack and a high recursion limit, so that deeply
    nested code that CPython accepts is parsed and analysed instead of overflowing the stack
    (libcst's native parser: SIGSEGV) or raising RecursionError (the CST visitors).
    Exceptions propagate to the caller with their tracebacks. A plain call when no such
    thread can be started."""
    global _DEEP
    if _DEEP is False or (_DEEP is not None and threading.current_thread() is _DEEP.thread):
        return fn(*args)
    with _DEEP_LOCK:
        if _DEEP is None:
            try:
                _DEEP = _DeepStackThread()
            except (RuntimeError, ValueError, MemoryError):
                _DEEP = False
                return fn(*args)
        box: dict = {}
        done = threading.Event()
        old_limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(old_limit, DEEP_RECURSION_LIMIT))
        try:
            _DEEP.jobs.put((fn, args, box, done))
            done.wait()
        finally:
            sys.setrecursionlimit(old_limit)
    if "error" in box:
        raise box.pop("error")
    return box["value"]


def first_line(message: Optional[str]) -> str:
    return (message or "").strip().splitlines()[0] if message and message.strip() else ""

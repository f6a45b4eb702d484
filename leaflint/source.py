"""Reading a file's text: PEP 263 cookies, BOM, binary detection; syntax-error positions."""

from __future__ import annotations

import ast
import io
import re
import sys
import threading
import tokenize
import warnings
from dataclasses import dataclass
from typing import Callable, Optional, TypeVar

T = TypeVar("T")

# Limits that keep one hostile file from stalling or killing the run (docs/reliability.md).
# libcst's parser is native code that recurses once per nesting level: on the main thread's
# 8 MB stack about 1,500 nested brackets (or 10,000 `and` operands) overflow it and the
# process dies with SIGSEGV, losing every other file's results; long operator chains and
# huge files are merely slow (about 10 s per MB).
MAX_SOURCE_CHARS = 2_000_000  # larger files get one LL002 diagnostic instead of an analysis
BRACKET_LIMIT = 200  # CPython's own limit ("too many nested parentheses")
LONG_LINE = 10_000  # a line this long may hold an operator chain CPython refuses
DEEP_STACK_BYTES = 512 * 1024 * 1024  # virtual; only the pages a deep file touches are used
DEEP_RECURSION_LIMIT = 50_000
_NOT_BRACKET = re.compile(r"[^()\[\]{}]+")
_BRACKET_PAIR = re.compile(r"\(\)|\[\]|\{\}")


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
        raise UnreadableSource(f"bad encoding declaration: {exc.msg if hasattr(exc, 'msg') else exc}") from None
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


def bracket_depth(text: str, limit: int = BRACKET_LIMIT) -> int:
    """The bracket nesting depth of ``text``, counted up to ``limit + 1`` (a cheap estimate:
    brackets inside strings and comments count too)."""
    brackets = _NOT_BRACKET.sub("", text)
    depth = 0
    while brackets and depth <= limit:
        inner = _BRACKET_PAIR.sub("", brackets)
        if inner == brackets:
            break
        brackets = inner
        depth += 1
    return depth


def too_deep(text: str) -> Optional[tuple[int, int, str]]:
    """(row, column, message) when CPython's parser refuses ``text`` and a cheap scan says it is
    nested or chained deeply enough to stall or crash libcst; None otherwise (the usual case,
    decided without running CPython's parser)."""
    suspicious = bracket_depth(text) > BRACKET_LIMIT or (
        len(text) > LONG_LINE and max(map(len, text.split("\n"))) > LONG_LINE)
    if not suspicious:
        return None
    return deep_syntax_error(text)


def deep_syntax_error(text: str) -> Optional[tuple[int, int, str]]:
    """CPython's verdict on ``text`` as (row, column, message) when it refuses it, else None."""
    try:
        _compile(text)
    except SyntaxError as exc:
        return exc.lineno or 1, max(exc.offset or 1, 1), f"SyntaxError: {exc.msg}"
    except (RecursionError, MemoryError, ValueError) as exc:
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return 1, 1, f"SyntaxError: too deeply nested for Python's parser ({detail})"
    return None


def call_with_deep_stack(fn: Callable[..., T], *args) -> T:
    """``fn(*args)`` on a thread with a large stack and a high recursion limit, so that deeply
    nested code that CPython accepts is parsed and analysed instead of overflowing the stack
    (libcst's native parser) or raising RecursionError (the CST visitors). Exceptions, with
    their tracebacks, propagate to the caller. Falls back to a plain call when no such thread
    can be started."""
    outcome: dict = {}

    def target() -> None:
        try:
            outcome["value"] = fn(*args)
        except BaseException as exc:  # noqa: B036 (handed to the caller)
            outcome["error"] = exc

    try:
        old_size = threading.stack_size(DEEP_STACK_BYTES)
    except (ValueError, RuntimeError):
        return fn(*args)
    try:
        thread = threading.Thread(target=target, name="leaflint-check", daemon=True)
        old_limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(old_limit, DEEP_RECURSION_LIMIT))
        try:
            thread.start()
        except (RuntimeError, MemoryError):
            sys.setrecursionlimit(old_limit)
            return fn(*args)
    finally:
        threading.stack_size(old_size)
    try:
        thread.join()
    finally:
        sys.setrecursionlimit(old_limit)
    if "error" in outcome:
        error = outcome.pop("error")
        raise error
    return outcome["value"]


def first_line(message: Optional[str]) -> str:
    return (message or "").strip().splitlines()[0] if message and message.strip() else ""

"""Reading a file's text: PEP 263 cookies, BOM, binary detection; syntax-error positions."""

from __future__ import annotations

import ast
import io
import tokenize
from dataclasses import dataclass
from typing import Optional


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
        compile(text, "<source>", "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True)
    except SyntaxError as exc:
        row = exc.lineno or fallback[0]
        column = exc.offset or 1
        return row, max(column, 1), f"SyntaxError: {exc.msg}"
    except (ValueError, RecursionError, MemoryError) as exc:  # e.g. null bytes, too deeply nested
        return fallback[0], fallback[1], f"SyntaxError: {exc}"
    return fallback


def first_line(message: Optional[str]) -> str:
    return (message or "").strip().splitlines()[0] if message and message.strip() else ""

"""Where an event happened: the first frame inside the project, its span, and ``via`` (imports torch).

Locations are 1-based (line, col, end line, end col), columns in characters, from the frame's
current instruction (``co_positions``). Frames of torch's dispatch (``overrides.py``) and of
the monitor itself are plumbing: never named as ``via``.
"""

from __future__ import annotations

import linecache
import os

import torch

from leaflint.probe import state


_OVERRIDES_FILE = os.path.realpath(torch.overrides.__file__)
_HERE = os.path.dirname(os.path.realpath(__file__))
# The monitor's own modules: their frames sit between the user's line and torch (plumbing).
MONITOR_MODULES = ("monitor", "state", "frames", "describe", "inplace", "data_writes", "data_reads",
                   "registration", "noise", "stale", "cuts")
MONITOR_FILES = frozenset(os.path.join(_HERE, name + ".py") for name in MONITOR_MODULES)


def _span(frame) -> tuple[int, int, int, int]:
    """1-based (line, col, end_line, end_col) in characters of the frame's instruction."""
    return code_span(frame.f_code, frame.f_lasti, frame.f_lineno or 0, state.STATE.positions)


def code_span(code, lasti: int, lineno, positions: dict) -> tuple:
    """1-based (line, col, end_line, end_col), columns in characters, of the instruction at
    ``lasti`` in ``code`` (``lineno`` when it has no position); ``positions`` caches each code's
    ``co_positions``."""
    known = positions.get(code)
    if known is None:
        known = positions[code] = list(code.co_positions())
    idx = lasti // 2
    if 0 <= idx < len(known):
        ln, eln, col, ecol = known[idx]
    else:
        ln, eln, col, ecol = lineno, lineno, None, None
    ln = ln or lineno
    eln = eln or ln
    filename = code.co_filename
    return ln, char_col(filename, ln, col, 1), eln, char_col(filename, eln, ecol, None)


def char_col(filename: str, line: int, byte_col: int | None, default: int | None) -> int | None:
    """co_positions columns are 0-based UTF-8 byte offsets; return 1-based characters."""
    if byte_col is None:
        return default
    text = linecache.getline(filename, line)
    if not text:
        return byte_col + 1
    raw = text.encode("utf-8")
    return len(raw[:byte_col].decode("utf-8", "replace")) + 1


def _frame_name(frame) -> str:
    mod = frame.f_globals.get("__name__", "?")
    qual = getattr(frame.f_code, "co_qualname", frame.f_code.co_name)
    return f"{mod}.{qual}"


def find_user_frame(frame, skip_codes=()):
    """(project frame, realpath, via) walking outwards from ``frame``.

    Frames of torch's dispatch plumbing (overrides.py) and of ``skip_codes`` are not
    intermediaries; the first other non-project frame names ``via``.
    """
    project = state.STATE.project
    via = None
    while frame is not None:
        code = frame.f_code
        real = project.realpath(code.co_filename)
        if real is not None:
            return frame, real, via
        fn = code.co_filename
        if via is None and code not in skip_codes and not _is_plumbing(fn, code):
            via = _frame_name(frame)
        frame = frame.f_back
    return None, None, via


def _is_plumbing(filename: str, code) -> bool:
    real = state.STATE.project.resolved(filename)
    return real == _OVERRIDES_FILE or real in MONITOR_FILES


def loc(frame, real: str) -> dict:
    ln, col, eln, ecol = _span(frame)
    return {"file": real, "line": ln, "col": col, "eline": eln, "ecol": ecol}

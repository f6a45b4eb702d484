"""The user's view of a traceback: the probe's own frames taken out (no torch).

Python prints ``python SCRIPT``'s tracebacks starting at the script; under the probe the
stack also holds the child's launcher, ``runpy`` and the monitor's handler between the
user's line and torch. Those frames are dropped from what the user sees, and a crash is
reported at the innermost frame in the user's project.
"""

from __future__ import annotations

import os

from leaflint.probe.project import Project

_PROBE_DIR = os.path.dirname(os.path.realpath(__file__)) + os.sep
_RUNPY = ("runpy.py", "<frozen runpy>")
_OVERRIDES_SUFFIX = os.path.join("torch", "overrides.py")

_cache: dict[str, str] = {}


def _kind(filename: str) -> str:
    """"probe", "runpy", "overrides" or "" for a code filename (cached)."""
    kind = _cache.get(filename)
    if kind is None:
        if filename.endswith(_RUNPY) or filename == "<frozen runpy>":
            kind = "runpy"
        elif filename.startswith("<"):
            kind = ""
        else:
            real = os.path.realpath(filename)
            if real.startswith(_PROBE_DIR):
                kind = "probe"
            elif real.endswith(_OVERRIDES_SUFFIX):
                kind = "overrides"
            else:
                kind = ""
        _cache[filename] = kind
    return kind


def _entries(tb) -> list:
    out = []
    while tb is not None:
        out.append(tb)
        tb = tb.tb_next
    return out


def filter_traceback(tb):
    """The traceback without the probe's frames: its launcher (the ``-c`` boot code, ``child``
    and ``runpy`` before the program's first frame), the monitor's handlers, and torch's
    override dispatch that only led into them."""
    entries = _entries(tb)
    kinds = [_kind(e.tb_frame.f_code.co_filename) for e in entries]
    # The launcher: everything before the first frame that is neither runpy, the probe, nor
    # the `-c` boot string.
    first = 0
    while first < len(entries) and (kinds[first] in ("probe", "runpy")
                                    or entries[first].tb_frame.f_code.co_filename == "<string>"
                                    and first + 1 < len(entries) and kinds[first + 1] == "probe"):
        first += 1
    keep = []
    for i in range(first, len(entries)):
        if kinds[i] == "probe":
            continue
        if kinds[i] == "overrides" and i + 1 < len(entries) and kinds[i + 1] == "probe":
            continue
        keep.append(entries[i])
    if not keep:
        return tb
    for a, b in zip(keep, keep[1:]):
        a.tb_next = b
    keep[-1].tb_next = None
    return keep[0]


def hide_probe_frames(exc: BaseException) -> None:
    """Filter ``exc``'s traceback and those of its cause/context chain in place."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if exc.__traceback__ is not None:
            try:
                exc.__traceback__ = filter_traceback(exc.__traceback__)
            except (AttributeError, TypeError, ValueError):
                pass
        exc = exc.__cause__ or exc.__context__


def user_location(tb, root: str | None) -> str | None:
    """``file:line`` of the innermost frame in the project under ``root`` (else the innermost
    frame that is not the probe's), relative to the working directory when inside it."""
    project = Project(root) if root else None
    fallback = None
    for e in reversed(_entries(tb)):
        fn = e.tb_frame.f_code.co_filename
        if _kind(fn) in ("probe", "runpy") or fn.startswith("<"):
            continue
        real = project.realpath(fn) if project is not None else None
        if real is not None:
            return f"{_display(real)}:{e.tb_lineno}"
        if fallback is None:
            fallback = f"{_display(os.path.realpath(fn))}:{e.tb_lineno}"
    return fallback


def _display(real: str) -> str:
    try:
        rel = os.path.relpath(real)
    except ValueError:
        return real
    return real if rel.startswith("..") else rel

"""Which source files belong to the user's project (no torch)."""

from __future__ import annotations

import os
import sys

_PROBE_DIR = os.path.dirname(os.path.realpath(__file__))
_EXCLUDED_PARTS = (os.sep + "site-packages" + os.sep, os.sep + "dist-packages" + os.sep)


def _prefixes() -> list[str]:
    out = []
    for p in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}:
        if p:
            out.append(os.path.realpath(p) + os.sep)
    return out


class Project:
    """Answers "is this code filename inside the project root?" with a per-filename cache."""

    def __init__(self, root: str):
        self.root = os.path.realpath(root)
        # a file as the root: that file is the project
        self._root_file = self.root if os.path.isfile(self.root) else None
        self._root_sep = self.root.rstrip(os.sep) + os.sep
        self._prefixes = [p for p in _prefixes() if not self._root_sep.startswith(p)]
        self._cache: dict[str, str | None] = {}
        self._resolved: dict[str, str] = {}

    def resolved(self, filename: str) -> str:
        """``os.path.realpath(filename)`` of any file, project or not (cached)."""
        try:
            return self._resolved[filename]
        except KeyError:
            real = self._resolved[filename] = os.path.realpath(filename)
            return real

    def realpath(self, filename: str) -> str | None:
        """The realpath of ``filename`` when it is a project file, else None (cached)."""
        try:
            return self._cache[filename]
        except KeyError:
            pass
        result = None
        if filename and not filename.startswith("<"):
            real = os.path.realpath(filename)
            if self._root_file is not None:
                result = real if real == self._root_file else None
            elif (
                real.startswith(self._root_sep)
                and not any(part in real for part in _EXCLUDED_PARTS)
                and not real.startswith(_PROBE_DIR + os.sep)
                and not any(real.startswith(p) for p in self._prefixes)
            ):
                result = real
        self._cache[filename] = result
        return result

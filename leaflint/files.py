"""File discovery: paths, default excludes, ``.gitignore``, include/exclude patterns."""

from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Optional

DEFAULT_EXCLUDES = (
    ".git", ".hg", ".svn", ".venv", "venv", ".tox", ".nox", ".mypy_cache", ".ruff_cache",
    ".pytest_cache", ".leaflint_cache", "__pycache__", "build", "dist", "site-packages",
    "node_modules", ".eggs", "*.egg-info", ".ipynb_checkpoints",
)
NOTEBOOK_SUFFIX = ".ipynb"  # read as a notebook (leaflint.notebook)
SOURCE_SUFFIXES = (".py", ".pyi", NOTEBOOK_SUFFIX)


def display_path(path: str) -> str:
    """The path as the user reads it: relative to the working directory when under it."""
    norm = os.path.normpath(path)
    if os.path.isabs(norm):
        try:
            rel = os.path.relpath(norm)
        except ValueError:
            return norm
        return norm if rel.startswith("..") else rel
    return norm


@dataclass
class PathError:
    path: str
    message: str


class _GitIgnore:
    """The patterns of one ``.gitignore`` (enough of the gitignore(5) syntax for real repos)."""

    def __init__(self, directory: str, lines: Iterable[str]) -> None:
        self.directory = directory
        self.rules: list[tuple[re.Pattern, bool, bool]] = []  # (regex, negated, dir_only)
        for raw in lines:
            line = raw.rstrip("\n").rstrip()
            if not line or line.startswith("#"):
                continue
            negated = line.startswith("!")
            if negated:
                line = line[1:]
            line = line.replace("\\#", "#").replace("\\!", "!")
            dir_only = line.endswith("/")
            line = line.strip("/") if dir_only else line
            anchored = "/" in line.rstrip("/")
            line = line.lstrip("/")
            regex = _glob_to_regex(line)
            if not anchored:
                regex = r"(?:.*/)?" + regex
            self.rules.append((re.compile(regex + r"$"), negated, dir_only))

    def match(self, path: str, is_dir: bool) -> Optional[bool]:
        rel = os.path.relpath(path, self.directory).replace(os.sep, "/")
        if rel.startswith(".."):
            return None
        verdict = None
        for regex, negated, dir_only in self.rules:
            if dir_only and not is_dir:
                continue
            if regex.match(rel):
                verdict = not negated
        return verdict


def _glob_to_regex(pattern: str) -> str:
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append(r"(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("/**", i) and i + 3 == len(pattern):
            out.append(r"/.*")
            i += 3
            continue
        if c == "*":
            out.append(r"[^/]*")
        elif c == "?":
            out.append(r"[^/]")
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(c))
            else:
                out.append("[" + pattern[i + 1:end].replace("!", "^", 1) + "]")
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


@dataclass
class Discovery:
    exclude: tuple[str, ...] = DEFAULT_EXCLUDES
    extend_exclude: tuple[str, ...] = ()
    respect_gitignore: bool = True
    force_exclude: bool = False
    errors: list[PathError] = field(default_factory=list)
    _ignores: dict[str, list[_GitIgnore]] = field(default_factory=dict)

    def excluded_name(self, path: str) -> bool:
        name = os.path.basename(path.rstrip(os.sep))
        norm = path.replace(os.sep, "/")
        for pattern in self.exclude + self.extend_exclude:
            if fnmatch.fnmatch(name, pattern) or ("/" in pattern and fnmatch.fnmatch(norm, f"*{pattern.strip('/')}*")):
                return True
        return False

    def _gitignores(self, directory: str) -> list[_GitIgnore]:
        directory = os.path.abspath(directory)
        cached = self._ignores.get(directory)
        if cached is not None:
            return cached
        parent = os.path.dirname(directory)
        chain: list[_GitIgnore] = []
        if parent != directory and not os.path.isdir(os.path.join(directory, ".git")):
            chain = list(self._gitignores(parent))
        ignore_file = os.path.join(directory, ".gitignore")
        if os.path.isfile(ignore_file):
            try:
                with open(ignore_file, encoding="utf-8", errors="replace") as handle:
                    chain.append(_GitIgnore(directory, handle))
            except OSError:
                pass
        self._ignores[directory] = chain
        return chain

    def ignored(self, path: str, is_dir: bool) -> bool:
        if not self.respect_gitignore:
            return False
        verdict = None
        for ignore in self._gitignores(os.path.dirname(os.path.abspath(path))):
            result = ignore.match(os.path.abspath(path), is_dir)
            if result is not None:
                verdict = result
        return bool(verdict)

    def discover(self, paths: Iterable[str]) -> Iterator[str]:
        seen: set[str] = set()
        for path in paths:
            if not os.path.lexists(path):
                self.errors.append(PathError(path, "No such file or directory"))
                continue
            if os.path.isdir(path):
                yield from self._walk(path, seen)
            else:
                if self.force_exclude and (self.excluded_name(path) or self.ignored(path, False)):
                    continue
                real = os.path.realpath(path)
                if real not in seen:
                    seen.add(real)
                    yield display_path(path)

    def _walk(self, root: str, seen: set[str]) -> Iterator[str]:
        visited_dirs: set[str] = set()
        stack = [root]
        while stack:
            directory = stack.pop()
            real = os.path.realpath(directory)
            if real in visited_dirs:
                continue  # symlink loop or a directory reached twice
            visited_dirs.add(real)
            try:
                entries = sorted(os.scandir(directory), key=lambda e: e.name)
            except OSError as exc:
                self.errors.append(PathError(directory, exc.strerror or str(exc)))
                continue
            subdirs = []
            for entry in entries:
                path = entry.path
                try:
                    is_dir = entry.is_dir()
                except OSError:
                    is_dir = False
                if self.excluded_name(path) or self.ignored(path, is_dir):
                    continue
                if is_dir:
                    subdirs.append(path)
                elif entry.name.endswith(SOURCE_SUFFIXES):
                    # A broken symlink or a symlink loop is yielded all the same: reading it
                    # fails, and the file gets an LL002 diagnostic like any unreadable file.
                    real_file = os.path.realpath(path) if os.path.exists(path) else os.path.abspath(path)
                    if real_file not in seen:
                        seen.add(real_file)
                        yield display_path(path)
            stack.extend(reversed(subdirs))

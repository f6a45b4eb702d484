"""Where the project's modules are: module names, import scanning and resolution (see
``leaflint/index/__init__.py``). Reads the file system (memoised), never a syntax tree."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Optional

from leaflint.files import Discovery

_IMPORT = re.compile(
    r"^[ \t]*(?:from[ \t]+(?P<dots>\.*)[ \t]*(?P<module>[\w.]*)[ \t]+import[ \t]*"
    r"(?P<names>\([^)]*\)|[^\n;#]*)|import[ \t]+(?P<plain>[^\n;#]+))",
    re.MULTILINE,
)
_NAME = re.compile(r"^[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*$")
_FILE, _DIR = 1, 2  # the kinds of a directory's entries in ``Layout._listing``


@dataclass
class Imports:
    """What a file's imports bind, resolved to the project's files."""

    modules: dict[str, str] = field(default_factory=dict)  # dotted module -> path relative to the root
    exports: dict[str, str] = field(default_factory=dict)  # local name -> "rel:name" or "rel" (a module)
    star: list[str] = field(default_factory=list)  # rel of the project modules star-imported
    deps: list[str] = field(default_factory=list)  # rel of every project module imported, sorted


def _split_names(text: str) -> list[tuple[str, str]]:
    text = text.strip()
    if text.startswith("("):
        text = text[1:-1] if text.endswith(")") else text[1:]
    text = text.replace("\\\n", " ")
    found = []
    for part in text.split(","):
        words = part.split()
        if not words:
            continue
        name = words[0]
        local = words[2] if len(words) == 3 and words[1] == "as" else name
        if _NAME.match(name) and _NAME.match(local):
            found.append((name, local))
    return found


def scan(text: str) -> list[tuple[int, str, list[tuple[str, str]]]]:
    """``(level, module, [(name, local)])`` per import statement; ``import a.b as c`` is
    ``(0, "a.b", [("", "c")])`` and ``import a.b`` is ``(0, "a.b", [("", "")])``."""
    found: list = []
    starts = []
    at = text.find("import")
    while at != -1:  # the regular expression only at the start of each line that says "import"
        start = text.rfind("\n", 0, at) + 1
        if not starts or starts[-1] != start:
            starts.append(start)
        at = text.find("import", at + 6)
    for start in starts:
        match = _IMPORT.match(text, start)
        if match is None:
            continue
        if match.group("plain") is not None:
            for part in match.group("plain").split(","):
                words = part.split()
                if words and _NAME.match(words[0]):
                    local = words[2] if len(words) == 3 and words[1] == "as" else ""
                    found.append((0, words[0], [("", local)]))
        else:
            module = match.group("module")
            if module and not _NAME.match(module):
                continue
            names = match.group("names").strip()
            pairs = [("*", "*")] if names.startswith("*") else _split_names(names)
            found.append((len(match.group("dots")), module, pairs))
    return found


def absolute(package: Optional[str], level: int, module: Optional[str]) -> Optional[str]:
    """The absolute name of a relative import (``from ..a import b`` in package ``p.q``: ``p.a``),
    or None when the package is unknown or the import climbs above it."""
    if not package or level < 1:
        return None
    parts = package.split(".")
    if level - 1 >= len(parts):
        return None
    base = parts[:len(parts) - (level - 1)]
    return ".".join(base + ([module] if module else []))


class Layout:
    """Module names and import resolution under one root (see the module docstring)."""

    def __init__(self, root: str, discovery: Optional[Discovery] = None) -> None:
        self.root = os.path.abspath(root)
        self.discovery = discovery
        self._prefix = self.root.rstrip(os.sep) + os.sep
        self._files: dict[str, bool] = {}
        self._dirs: dict[str, bool] = {}
        self._source_roots: dict[str, str] = {}
        self._listings: dict[str, dict[str, int]] = {}  # directory -> {entry: its kind}
        self._resolved: dict[tuple[str, int, str], Optional[str]] = {}
        self._tops: dict[tuple[str, str], bool] = {}  # (source root, first name) -> may resolve
        self._directories: dict[str, str] = {}  # path -> its absolute directory
        self._rels: dict[str, Optional[str]] = {}
        self._modules: dict[str, tuple[str, str]] = {}

    def rel(self, path: str) -> Optional[str]:
        """The path relative to the root, when it is a ``.py`` file under it."""
        known = self._rels.get(path, False)
        if known is not False:
            return known  # type: ignore[return-value]
        absolute = os.path.abspath(path)
        found = None
        if absolute.endswith(".py") and absolute.startswith(self._prefix):
            found = absolute[len(self._prefix):].replace(os.sep, "/")
        self._rels[path] = found
        return found

    def path(self, rel: str) -> str:
        return os.path.join(self.root, *rel.split("/"))

    def _is_file(self, path: str) -> bool:
        known = self._files.get(path)
        if known is None:
            directory, name = os.path.split(path)
            known = self._files[path] = self._listing(directory).get(name) == _FILE and self._allowed(path)
        return known

    def _listing(self, directory: str) -> dict[str, int]:
        """A directory's entries and their kinds (``_FILE``, ``_DIR``, other), listed once:
        resolution asks about the same few directories for every import of every module."""
        listing = self._listings.get(directory)
        if listing is None:
            listing = {}
            try:
                with os.scandir(directory) as entries:
                    for entry in entries:
                        try:
                            listing[entry.name] = _FILE if entry.is_file() else _DIR if entry.is_dir() else 0
                        except OSError:
                            listing[entry.name] = 0
            except OSError:
                pass
            self._listings[directory] = listing
        return listing

    def _allowed(self, path: str) -> bool:
        """Not excluded by the configuration or .gitignore, nor is any directory above it."""
        if self.discovery is None:
            return True
        if self.discovery.excluded_name(path) or self.discovery.ignored(path, False):
            return False
        directory = os.path.dirname(path)
        while directory.startswith(self._prefix):
            known = self._dirs.get(directory)
            if known is None:
                known = self._dirs[directory] = not (self.discovery.excluded_name(directory)
                                                     or self.discovery.ignored(directory, True))
            if not known:
                return False
            directory = os.path.dirname(directory)
        return True

    def _source_root(self, directory: str) -> str:
        found = self._source_roots.get(directory)
        if found is None:
            found = directory
            while found.startswith(self._prefix) and self._listing(found).get("__init__.py") == _FILE:
                found = os.path.dirname(found)
            self._source_roots[directory] = found
        return found

    def module_of(self, path: str) -> tuple[str, str]:
        """``(module, package)`` of a file: ``("pkg.models", "pkg")``; ``("pkg", "pkg")`` for
        ``pkg/__init__.py``; ``("train", "")`` for a script."""
        known = self._modules.get(path)
        if known is None:
            known = self._modules[path] = self._module_of(path)
        return known

    def _module_of(self, path: str) -> tuple[str, str]:
        absolute = os.path.abspath(path)
        directory = os.path.dirname(absolute)
        base = self._source_root(directory)
        package = os.path.relpath(directory, base).replace(os.sep, ".") if directory != base else ""
        stem = os.path.splitext(os.path.basename(absolute))[0]
        if stem == "__init__":
            return package, package
        return (f"{package}.{stem}" if package else stem), package

    def _candidate(self, base: str, parts: list[str]) -> Optional[str]:
        if not parts:
            init = os.path.join(base, "__init__.py")
            return init if self._is_file(init) else None
        directory = base
        for part in parts[:-1]:  # each a directory, seen in its parent's listing (most imports
            if self._listing(directory).get(part) != _DIR:  # stop here: torch, typing, os)
                return None
            directory = os.path.join(directory, part)
        last = parts[-1]
        listing = self._listing(directory)
        # as CPython's path finder: a package directory ``x/`` wins over a module ``x.py`` beside it
        if listing.get(last) == _DIR:
            candidate = os.path.join(directory, last, "__init__.py")
            if self._is_file(candidate):
                return candidate
        if listing.get(last + ".py") == _FILE:
            candidate = os.path.join(directory, last + ".py")
            if self._is_file(candidate):
                return candidate
        return None

    def resolve(self, path: str, level: int, dotted: str) -> Optional[str]:
        """The file an import of ``dotted`` (``level`` dots) in ``path`` reads, when in the project."""
        directory = self._directories.get(path)
        if directory is None:
            directory = self._directories[path] = os.path.dirname(os.path.abspath(path))
        # an absolute import reads the same file from every directory of one source root
        key = (directory, level, dotted) if level else (self._source_root(directory), 0, dotted)
        found = self._resolved.get(key, False)
        if found is False:
            found = self._resolved[key] = self._resolve(directory, level, dotted)
        return found  # type: ignore[return-value]

    def _resolve(self, directory: str, level: int, dotted: str) -> Optional[str]:
        parts = [p for p in dotted.split(".") if p]
        if level:
            for _ in range(level - 1):
                directory = os.path.dirname(directory)
            if not directory.startswith(self.root):
                return None
            return self._candidate(directory, parts)
        if not parts:
            return None
        roots = [self._source_root(directory), self.root, os.path.join(self.root, "src")]
        seen = set()
        for root in roots:
            if root in seen:
                continue
            seen.add(root)
            found = self._candidate(root, parts)
            if found is not None:
                return found
        return None

    def _may_resolve(self, path: str, top: str) -> bool:
        """Can an absolute import whose first name is ``top`` reach a file of the project from
        ``path``? Every name ``_resolve`` tries starts with ``top``, and ``_candidate`` reads
        ``top`` from a root's listing first (a package directory, or ``top.py``), so when no
        root lists it, no import of ``top`` or under it resolves: one test per statement."""
        directory = self._directories.get(path)
        if directory is None:
            directory = self._directories[path] = os.path.dirname(os.path.abspath(path))
        key = (self._source_root(directory), top)
        known = self._tops.get(key)
        if known is None:
            known = False
            for root in (key[0], self.root, os.path.join(self.root, "src")):
                listing = self._listing(root)
                if listing.get(top) == _DIR or listing.get(top + ".py") == _FILE:
                    known = True
                    break
            self._tops[key] = known
        return known

    def imports(self, path: str, text: str) -> Imports:
        """The project modules ``text`` (the file at ``path``) imports, and what it re-exports."""
        return self.resolve_all(path, scan(text))

    def resolve_all(self, path: str, scanned: list) -> Imports:
        """``imports`` from the ``scan`` of the file's text."""
        result = Imports()
        module, package = self.module_of(path)
        deps: set[str] = set()

        def note(dotted: str, found: Optional[str]) -> Optional[str]:
            rel = self.rel(found) if found is not None else None
            if rel is not None:
                result.modules.setdefault(dotted, rel)
                deps.add(rel)
            return rel

        for level, name, pairs in scanned:
            if level:
                full = absolute(package, level, name or None)
                if full is None:
                    continue
            else:
                full = name
                if name and not self._may_resolve(path, name.partition(".")[0]):
                    continue  # torch, typing, os: no module of the project
            if pairs and pairs[0][0] == "":  # import a.b.c [as d]
                parts = full.split(".")
                for cut in range(1, len(parts) + 1):
                    rel = note(".".join(parts[:cut]), self.resolve(path, 0, ".".join(parts[:cut])))
                    if cut == len(parts) and rel is not None and pairs[0][1]:
                        result.exports[pairs[0][1]] = rel
                continue
            owner = note(full, self.resolve(path, level, name))
            for imported, local in pairs:
                if imported == "*":
                    if owner is not None:
                        result.star.append(owner)
                    continue
                sub = note(f"{full}.{imported}", self.resolve(path, level, f"{name}.{imported}" if name else imported))
                if sub is not None:
                    result.exports[local] = sub
                elif owner is not None:
                    result.exports[local] = f"{owner}:{imported}"
        own = self.rel(path)
        deps.discard(own or "")
        result.deps = sorted(deps)
        return result

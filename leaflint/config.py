"""Configuration: ``[tool.leaflint]`` in ``pyproject.toml``; load, validate, merge with the CLI.

Like ruff: the nearest ``pyproject.toml`` above a file that has a ``[tool.leaflint]`` table is
that file's configuration (a ``pyproject.toml`` without the table is skipped); settings are not
merged across files. ``--config PATH`` uses one file for every path, ``--isolated`` ignores every
configuration file. Command-line options override the configuration: ``--select`` replaces the
configured selection, ``--ignore`` and ``--extend-select`` apply on top of it.

Relative patterns (``exclude`` patterns that contain a ``/``, ``per-file-ignores`` globs) and
``cache-dir`` are relative to the directory of the configuration file.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Iterable, Iterator, Optional, Sequence

from leaflint.files import DEFAULT_EXCLUDES, Discovery
from leaflint.findings import Finding
from leaflint.rules import CATALOG, DEFAULT_CODES, SelectionError, validate_selector

KEYS = ("select", "ignore", "extend-select", "exclude", "extend-exclude", "per-file-ignores",
        "respect-gitignore", "cache-dir")
_TABLE_HINT = re.compile(r"^\s*\[\s*tool\s*\.\s*leaflint\s*[\].]|^\s*tool\s*\.\s*leaflint\s*[.=]|^\s*\[\s*tool\s*\]",
                         re.MULTILINE)


class ConfigError(Exception):
    """A configuration file that cannot be used: the message names the file and the key."""


@dataclass(frozen=True)
class Overrides:
    """What the command line sets; ``None`` means "not given"."""

    select: Optional[tuple[str, ...]] = None
    ignore: tuple[str, ...] = ()
    extend_select: tuple[str, ...] = ()
    exclude: Optional[tuple[str, ...]] = None
    extend_exclude: tuple[str, ...] = ()
    respect_gitignore: Optional[bool] = None
    cache_dir: Optional[str] = None


@dataclass(frozen=True)
class Settings:
    """The effective settings for the files under one configuration."""

    path: Optional[str] = None  # the configuration file, None for the defaults
    root: str = field(default_factory=os.getcwd)  # absolute: relative patterns start here
    select: Optional[tuple[str, ...]] = None  # as configured (before the command line)
    ignore: tuple[str, ...] = ()
    extend_select: tuple[str, ...] = ()
    exclude: tuple[str, ...] = DEFAULT_EXCLUDES
    extend_exclude: tuple[str, ...] = ()
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    respect_gitignore: bool = True
    cache_dir: Optional[str] = None  # absolute
    rules: tuple[str, ...] = ()  # the enabled rule codes, command line applied

    def ignored_codes(self, path: str) -> tuple[str, ...]:
        """The ``per-file-ignores`` selectors that apply to ``path``."""
        if not self.per_file_ignores:
            return ()
        rel = _relative(path, self.root)
        name = os.path.basename(path)
        codes: list[str] = []
        for pattern, selectors in self.per_file_ignores:
            if _glob_match(pattern, rel) or ("/" not in pattern and fnmatch.fnmatchcase(name, pattern)):
                codes.extend(selectors)
        return tuple(codes)

    def excludes(self, path: str) -> bool:
        """Does ``exclude`` or ``extend-exclude`` match this file or directory (not its parents)?"""
        names, globs = _exclude_matchers(self.exclude + self.extend_exclude)
        if names is not None and names.match(os.path.basename(os.path.normpath(path))):
            return True
        rel = None
        for bare in globs:
            if rel is None:
                rel = _relative(path, self.root)
            if _glob_match(bare[2:] if bare.startswith("./") else bare, rel):
                return True
        return False

    def show(self, filename: str) -> str:
        def value(v) -> str:
            return json.dumps(list(v) if isinstance(v, tuple) else v)

        lines = [f"Resolved settings for: {filename}",
                 f"Settings path: {self.path or '(none: defaults)'}",
                 f"Project root: {self.root}",
                 "",
                 f"rules = {value(self.rules)}",
                 f"select = {value(self.select) if self.select is not None else '(default rules)'}",
                 f"ignore = {value(self.ignore)}",
                 f"extend-select = {value(self.extend_select)}",
                 f"exclude = {value(self.exclude)}",
                 f"extend-exclude = {value(self.extend_exclude)}",
                 "per-file-ignores = {" + ", ".join(f"{json.dumps(p)} = {value(c)}" for p, c in self.per_file_ignores) + "}",
                 f"respect-gitignore = {value(self.respect_gitignore)}",
                 f"cache-dir = {value(self.cache_dir) if self.cache_dir else '(default)'}",
                 f"per-file-ignores for this file = {value(self.ignored_codes(filename))}"]
        return "\n".join(lines) + "\n"


def _relative(path: str, root: str) -> str:
    rel = os.path.relpath(os.path.abspath(path), root)
    return rel.replace(os.sep, "/")


_GLOBS: dict[str, re.Pattern] = {}


def glob_regex(pattern: str) -> str:
    """A glob as a regex: ``*`` and ``?`` within one path component, ``**`` across any number
    of them (``a/**/b``, ``a/**``, ``**/x.py``), ``[...]`` a character class."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append(r"(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(r".*")
            i += 2
        elif pattern[i] == "*":
            out.append(r"[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append(r"[^/]")
            i += 1
        elif pattern[i] == "[" and pattern.find("]", i + 2) != -1:
            end = pattern.find("]", i + 2)
            body = pattern[i + 1:end]
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body).replace("\\", "\\\\") + "]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)


def _glob_match(pattern: str, rel: str) -> bool:
    """Does the glob (relative to the configuration's directory) match the relative path?"""
    regex = _GLOBS.get(pattern)
    if regex is None:
        body = pattern.strip("/")
        while body.startswith("./"):
            body = body[2:]
        regex = _GLOBS[pattern] = re.compile(glob_regex(body) + r"$")
    return regex.match(rel) is not None


# --- reading files -----------------------------------------------------------------------

def _load_toml(path: str, text: str) -> dict:
    try:
        import tomllib  # Python 3.11+
    except ImportError:  # pragma: no cover - Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ImportError:
            raise ConfigError(f"{path}: reading [tool.leaflint] on Python < 3.11 needs the tomli "
                              f"package (pip install tomli)") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def read_table(path: str, explicit: bool = False) -> Optional[dict]:
    """The ``[tool.leaflint]`` table of a configuration file, or None if it has none.

    With ``explicit`` (``--config``) a file that is not a ``pyproject.toml`` may hold the
    settings at its top level (a ``leaflint.toml``), and a missing table is an error."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        if explicit:
            raise ConfigError(f"{path}: cannot read the configuration file: "
                              f"{getattr(exc, 'strerror', None) or exc}") from None
        return None
    standalone = explicit and os.path.basename(path) != "pyproject.toml"
    if not standalone and not _TABLE_HINT.search(text):
        if explicit:
            raise ConfigError(f"{path}: no [tool.leaflint] table")
        return None  # not ours: do not even parse it
    data = _load_toml(path, text)
    tool = data.get("tool")
    table = tool.get("leaflint") if isinstance(tool, dict) else None
    if table is None:
        if standalone:
            return data
        if explicit:
            raise ConfigError(f"{path}: no [tool.leaflint] table")
        return None
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: tool.leaflint must be a table")
    return table


def parse_table(table: dict, path: str) -> Settings:
    """Validate a ``[tool.leaflint]`` table; ``ConfigError`` names the file and the key."""
    root = os.path.dirname(os.path.abspath(path))
    values: dict = {}
    for key, value in table.items():
        if key not in KEYS:
            import difflib  # (only for a configuration with an unknown key)

            hint = difflib.get_close_matches(key.replace("_", "-"), KEYS, n=1)
            suggestion = f"; did you mean '{hint[0]}'?" if hint else ""
            raise ConfigError(f"{path}: unknown key '{key}' in [tool.leaflint]{suggestion} "
                              f"(valid keys: {', '.join(KEYS)})")
        if key in ("select", "ignore", "extend-select"):
            values[key.replace("-", "_")] = _selectors(value, key, path)
        elif key in ("exclude", "extend-exclude"):
            values[key.replace("-", "_")] = _strings(value, key, path)
        elif key == "per-file-ignores":
            if not isinstance(value, dict):
                raise ConfigError(f"{path}: 'per-file-ignores' must be a table of glob = [codes], "
                                  f"got {_type(value)}")
            values["per_file_ignores"] = tuple(
                (pattern, _selectors(codes, f"per-file-ignores.\"{pattern}\"", path)) for pattern, codes in value.items())
        elif key == "respect-gitignore":
            if not isinstance(value, bool):
                raise ConfigError(f"{path}: 'respect-gitignore' must be true or false, got {_type(value)}")
            values["respect_gitignore"] = value
        elif key == "cache-dir":
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"{path}: 'cache-dir' must be a non-empty string (a directory), got {_type(value)}")
            values["cache_dir"] = os.path.normpath(os.path.join(root, os.path.expanduser(value)))
    return Settings(path=os.path.abspath(path), root=root, **values)


def _type(value) -> str:
    return f"{type(value).__name__} {json.dumps(value, default=str)}"


def _strings(value, key: str, path: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{path}: '{key}' must be a list of strings, got {_type(value)}")
    return tuple(value)


def _selectors(value, key: str, path: str) -> tuple[str, ...]:
    items = _strings(value, key, path)
    try:
        return tuple(validate_selector(item) for item in items)
    except SelectionError as exc:
        raise ConfigError(f"{path}: bad value in '{key}': {exc}") from None


# --- rule selection in layers ------------------------------------------------------------

def _spec(selector: str) -> int:
    return 0 if selector == "ALL" else len(selector)


def _best(code: str, selectors: Iterable[str]) -> int:
    return max((_spec(s) for s in selectors if s == "ALL" or code.startswith(s)), default=-1)


def apply_layer(enabled: Iterable[str], select: Optional[Sequence[str]], ignore: Sequence[str],
                extend_select: Sequence[str]) -> tuple[str, ...]:
    """One layer of selection (the configuration, then the command line): ``select`` starts
    afresh; otherwise ``extend-select`` adds to and ``ignore`` removes from what the earlier
    layer enabled. Within a layer the more specific selector wins, ``ignore`` on a tie."""
    result = set(enabled) if select is None else set()
    for code in CATALOG:
        on = max(_best(code, select or ()), _best(code, extend_select))
        off = _best(code, ignore)
        if on >= 0 and on > off:
            result.add(code)
        elif off >= 0:
            result.discard(code)
    return tuple(sorted(result))


DEFAULT_RULES = DEFAULT_CODES


# --- resolution --------------------------------------------------------------------------

class Resolver:
    """Settings per path: the nearest configuration (or ``--config``, or none with
    ``--isolated``), with the command line applied."""

    def __init__(self, overrides: Overrides = Overrides(), config: Optional[str] = None,
                 isolated: bool = False) -> None:
        for selectors in (overrides.select or (), overrides.ignore, overrides.extend_select):
            for selector in selectors:
                validate_selector(selector)  # SelectionError: a usage error
        self.overrides = overrides
        self.isolated = isolated
        self._by_dir: dict[str, Settings] = {}
        self._by_config: dict[Optional[str], Settings] = {}
        self._fixed: Optional[Settings] = None
        if config is not None:
            table = read_table(config, explicit=True)
            self._fixed = self._finish(parse_table(table or {}, config))
        elif isolated:
            self._fixed = self._finish(Settings())

    def _finish(self, settings: Settings) -> Settings:
        o = self.overrides
        rules = apply_layer(DEFAULT_RULES, settings.select, settings.ignore, settings.extend_select)
        rules = apply_layer(rules, o.select, o.ignore, o.extend_select)
        return replace(
            settings,
            exclude=o.exclude if o.exclude is not None else settings.exclude,
            extend_exclude=settings.extend_exclude + o.extend_exclude,
            respect_gitignore=o.respect_gitignore if o.respect_gitignore is not None else settings.respect_gitignore,
            cache_dir=os.path.abspath(o.cache_dir) if o.cache_dir else settings.cache_dir,
            rules=rules,
        )

    def for_path(self, path: str) -> Settings:
        """The settings of a file (for a directory: the settings that decide whether it is
        excluded, those of the directory that contains it)."""
        if self._fixed is not None:
            return self._fixed
        return self.for_directory(os.path.dirname(os.path.abspath(path)))

    def for_directory(self, directory: str) -> Settings:
        if self._fixed is not None:
            return self._fixed
        directory = os.path.abspath(directory)
        cached = self._by_dir.get(directory)
        if cached is not None:
            return cached
        candidate = os.path.join(directory, "pyproject.toml")
        table = read_table(candidate) if os.path.isfile(candidate) else None
        if table is not None:
            settings = self._by_config.get(candidate)
            if settings is None:
                settings = self._by_config[candidate] = self._finish(parse_table(table, candidate))
        else:
            parent = os.path.dirname(directory)
            if parent == directory:
                settings = self._by_config.get(None)
                if settings is None:
                    settings = self._by_config[None] = self._finish(Settings())
            else:
                settings = self.for_directory(parent)
        self._by_dir[directory] = settings
        return settings

    def discovery(self, force_exclude: bool = False) -> "ConfiguredDiscovery":
        return ConfiguredDiscovery(force_exclude=force_exclude, resolver=self)

    def groups(self, files: Sequence[str]) -> list[tuple[tuple[str, ...], list[str]]]:
        """The files grouped by their enabled rules (usually one group)."""
        groups: dict[tuple[str, ...], list[str]] = {}
        for path in files:
            groups.setdefault(self.for_path(path).rules, []).append(path)
        return list(groups.items())

    def filter(self, findings: Iterable[Finding]) -> list[Finding]:
        """Drop the findings that ``per-file-ignores`` silence."""
        out = []
        for finding in findings:
            codes = self.for_path(finding.filename).ignored_codes(finding.filename)
            if codes and any(s == "ALL" or finding.code.startswith(s) for s in codes):
                continue
            out.append(finding)
        return out

    def cache_dir(self, paths: Sequence[str] = (".",)) -> Optional[str]:
        """The cache directory: ``--cache-dir``, else the ``cache-dir`` of the configuration
        that governs the first path (None: the cache's default)."""
        if self.overrides.cache_dir:
            return os.path.abspath(self.overrides.cache_dir)
        first = paths[0] if paths else "."
        settings = self.for_directory(first) if os.path.isdir(first) else self.for_path(first)
        return settings.cache_dir


@lru_cache(maxsize=64)
def _exclude_matchers(patterns: tuple[str, ...]) -> tuple[Optional[re.Pattern], tuple[str, ...]]:
    """``exclude`` patterns as ``Settings.excludes`` applies them: the ones without a ``/`` match
    the name alone (one regular expression for them all, each ``fnmatch.fnmatchcase``'s own
    translation: the same matches as testing them one by one), the others the path relative to the
    root (``_glob_match``)."""
    bares = [pattern.strip("/") for pattern in patterns]
    names = [fnmatch.translate(bare) for bare in bares if "/" not in bare]
    matcher = re.compile("|".join(f"(?:{regex})" for regex in names)) if names else None
    return matcher, tuple(bare for bare in bares if "/" in bare)


@dataclass
class ConfiguredDiscovery(Discovery):
    """Discovery whose excludes and ``.gitignore`` handling come from each path's settings."""

    resolver: Optional[Resolver] = None

    def excluded_name(self, path: str) -> bool:
        if self.resolver is None:
            return super().excluded_name(path)
        return self.resolver.for_path(path).excludes(path)

    def ignored(self, path: str, is_dir: bool) -> bool:
        if self.resolver is not None and not self.resolver.for_path(path).respect_gitignore:
            return False
        return super().ignored(path, is_dir)

    def force_excluded(self, path: str) -> bool:
        """With ``--force-exclude``: is an explicitly given file excluded, by itself or by one
        of its parent directories (up to the working directory or the configuration's root)?"""
        if self.excluded_name(path) or self.ignored(path, False):
            return True
        absolute = os.path.abspath(path)
        settings = self.resolver.for_path(path) if self.resolver is not None else None
        base = settings.root if settings is not None and settings.path else os.getcwd()
        parent = os.path.dirname(absolute)
        while parent != base and parent.startswith(base.rstrip(os.sep) + os.sep):
            if self.excluded_name(parent) or self.ignored(parent, True):
                return True
            parent = os.path.dirname(parent)
        return False

    def discover(self, paths: Iterable[str]) -> Iterator[str]:
        paths = list(paths)
        if self.force_exclude:
            paths = [p for p in paths if os.path.isdir(p) or not os.path.lexists(p) or not self.force_excluded(p)]
        yield from super().discover(paths)

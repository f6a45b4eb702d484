"""The content-hash cache: the findings of one file, stored under a hash of its bytes and of
everything else that changes them.

An entry's key hashes, in order: a fingerprint of this leaflint (its version and the size and
mtime of its own source files, so an edited checkout never reads stale entries), the Python
and libcst versions, the enabled rule codes, the file's suffix, and the digest of the file's
bytes (``content_digest``: the project index keeps it, so a key can be made without reading
the file again, ``leaflint/index/store.py``). A hit returns the findings without reading libcst. Findings are stored without their filename; the
caller re-stamps the display path, so a cached file prints byte-identically to a fresh run.

Layout: ``<dir>/<key[:2]>/<key[2:]>.json``, one JSON document per file. Writes go to a
temporary file in the same directory and are published with ``os.replace``, so concurrent
runs never see a partial entry; an unreadable, truncated or foreign entry is a miss and is
rewritten. The cache is best-effort: any ``OSError`` (read-only tree, full disk) only turns
caching off for the entry concerned.

Location: an explicit directory (``--cache-dir``, the ``cache-dir`` setting), else
``$LEAFLINT_CACHE_DIR``, else ``.leaflint_cache`` in the project root (the nearest directory
at or above the first path that holds ``pyproject.toml`` or ``.git``, else the working
directory). Deleting the directory is always safe.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Iterable, Optional, Sequence

try:  # the builtin module: importing hashlib would also load OpenSSL (a few ms per run)
    from _blake2 import blake2b
except ImportError:  # pragma: no cover
    from hashlib import blake2b

from leaflint import __version__
from leaflint.findings import Finding

ENV_VAR = "LEAFLINT_CACHE_DIR"
DEFAULT_DIRNAME = ".leaflint_cache"
FORMAT = 4  # bump when the entry layout or the key changes
_ROOT_MARKERS = ("pyproject.toml", ".git")
# Parts of the package that cannot change what a file's findings are.
_UNRELATED = frozenset({"__pycache__", "probe", "report"})


def project_root(paths: Sequence[str] = ()) -> str:
    """The nearest directory at or above the first path holding pyproject.toml or .git, else cwd."""
    start = os.path.abspath(paths[0]) if paths else os.getcwd()
    directory = start if os.path.isdir(start) else os.path.dirname(start)
    while True:
        if any(os.path.exists(os.path.join(directory, marker)) for marker in _ROOT_MARKERS):
            return directory
        parent = os.path.dirname(directory)
        if parent == directory:
            return os.getcwd()
        directory = parent


def resolve_dir(explicit: Optional[str] = None, paths: Sequence[str] = ()) -> str:
    """Where the cache lives: ``explicit``, else ``$LEAFLINT_CACHE_DIR``, else the project root's."""
    chosen = explicit or os.environ.get(ENV_VAR)
    if chosen:
        return os.path.abspath(os.path.expanduser(chosen))
    return os.path.join(project_root(paths), DEFAULT_DIRNAME)


def _package_fingerprint() -> list:
    """(relative path, size, mtime) of every leaflint source file that can change findings."""
    here = os.path.dirname(os.path.abspath(__file__))
    found = []
    stack = [here]
    while stack:
        directory = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir():
                if entry.name not in _UNRELATED:
                    stack.append(entry.path)
            elif entry.name.endswith(".py"):
                try:
                    st = entry.stat()
                except OSError:
                    continue
                found.append((os.path.relpath(entry.path, here), st.st_size, st.st_mtime_ns))
    found.sort()
    return found


def _libcst_fingerprint() -> Optional[list]:
    """The installed libcst's version file, found without importing libcst."""
    for entry in sys.path:
        candidate = os.path.join(entry or ".", "libcst", "_version.py")
        try:
            st = os.stat(candidate)
        except OSError:
            continue
        return [os.path.abspath(candidate), st.st_size, st.st_mtime_ns]
    return None


def fingerprint() -> str:
    """Everything about this installation that a cached finding depends on."""
    data = {
        "format": FORMAT,
        "leaflint": __version__,
        "sources": _package_fingerprint(),
        "python": list(sys.version_info[:2]),
        "implementation": sys.implementation.name,
        "libcst": _libcst_fingerprint(),
    }
    return json.dumps(data, sort_keys=True)


def content_digest(data: bytes) -> str:
    """The digest of a file's bytes, as entry keys hold it."""
    return blake2b(data, digest_size=20).hexdigest()


class KeyMaker:
    """Computes entry keys; picklable, so pool workers hash exactly as the main process does."""

    def __init__(self, fingerprint_text: str, rule_codes: Iterable[str]) -> None:
        settings = f"{fingerprint_text}\0{','.join(sorted(rule_codes))}".encode()
        self.prefix = blake2b(settings, digest_size=32).digest()

    def key(self, data: bytes, filename: str, extra: str = "") -> str:
        """The key of a file with these bytes (its suffix counts: ``.ipynb`` reads differently);
        ``extra``: anything else its findings depend on (the digests of the project index's
        summaries it reads)."""
        return self.key_of(content_digest(data), filename, extra)

    def key_of(self, digest: str, filename: str, extra: str = "") -> str:
        """``key`` from the ``content_digest`` of the bytes."""
        h = blake2b(self.prefix, digest_size=20)
        h.update(os.path.splitext(filename)[1].encode())
        h.update(b"\0")
        h.update(digest.encode())
        if extra:
            h.update(b"\0index\0")
            h.update(extra.encode())
        return h.hexdigest()


def finding_to_entry(finding: Finding, own: Optional[str] = None, root: Optional[str] = None) -> dict:
    """A finding as stored: without its filename, unless it is in another file than ``own``
    (a write in another module of the project), then with its path from the project ``root``."""
    data = finding.to_dict()
    data.pop("filename", None)
    if own is not None and root is not None and finding.filename != own:
        data["file"] = os.path.relpath(os.path.abspath(finding.filename), root).replace(os.sep, "/")
    return data


def _entry_finding(item: dict, filename: str, root: Optional[str]) -> Finding:
    if "file" in item:
        if root is None:
            raise ValueError("an entry for another project")
        from leaflint.files import display_path

        return Finding.from_dict(item, display_path(os.path.join(root, *item["file"].split("/"))))
    return Finding.from_dict(item, filename)


class Cache:
    """Per-file findings on disk. ``get``/``put`` never raise for I/O or corrupt data."""

    def __init__(self, directory: str, fingerprint_text: Optional[str] = None) -> None:
        self.directory = directory
        self.fingerprint = fingerprint_text if fingerprint_text is not None else fingerprint()
        self._keys: dict[tuple[str, ...], KeyMaker] = {}
        self._prepared = False
        self.hits = 0
        self.misses = 0
        self.writes = 0

    @classmethod
    def open(cls, directory: Optional[str] = None, paths: Sequence[str] = ()) -> "Cache":
        """The cache at ``directory`` (see ``resolve_dir`` for the default)."""
        return cls(resolve_dir(directory, paths))

    def keys(self, rule_codes: Iterable[str]) -> KeyMaker:
        """The key maker for files checked with these rules."""
        codes = tuple(sorted(rule_codes))
        maker = self._keys.get(codes)
        if maker is None:
            maker = self._keys[codes] = KeyMaker(self.fingerprint, codes)
        return maker

    def _path(self, key: str) -> str:
        return os.path.join(self.directory, key[:2], key[2:] + ".json")

    def get(self, key: str, filename: str) -> Optional[list[Finding]]:
        """The cached findings of the file with this key, stamped with ``filename``; None on a miss."""
        found = self.get_entry(key, filename)
        return found[0] if found is not None else None

    def get_entry(self, key: str, filename: str, root: Optional[str] = None
                  ) -> Optional[tuple[list[Finding], Optional[dict]]]:
        """The cached findings (stamped with ``filename``; a finding in another module of the
        project with that module's path under ``root``) and project-index summary of the file
        with this key; None on a miss."""
        try:
            with open(self._path(key), "rb") as handle:
                raw = handle.read()
            entry = json.loads(raw)
            if not isinstance(entry, dict) or entry.get("key") != key:
                raise ValueError("foreign entry")
            findings = [_entry_finding(item, filename, root) for item in entry["findings"]]
            summary = entry.get("summary")
            if summary is not None and not isinstance(summary, dict):
                raise ValueError("bad summary")
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            self.misses += 1
            return None
        self.hits += 1
        return findings, summary

    def put(self, key: str, findings: Sequence[Finding], summary: Optional[dict] = None,
            own: Optional[str] = None, root: Optional[str] = None) -> None:
        entry = {"key": key, "findings": [finding_to_entry(f, own, root) for f in findings]}
        if summary is not None:
            entry["summary"] = summary
        if self._publish(self._path(key), json.dumps(entry, separators=(",", ":")).encode()):
            self.writes += 1

    def read_blob(self, name: str) -> Optional[bytes]:
        """The bytes of ``name`` (a path under the directory, ``/``-separated), None when unreadable."""
        try:
            with open(os.path.join(self.directory, *name.split("/")), "rb") as handle:
                return handle.read()
        except OSError:
            return None

    def write_blob(self, name: str, payload: bytes) -> bool:
        """Publish ``payload`` as ``name`` (whole or not at all, as an entry is); False on failure."""
        return self._publish(os.path.join(self.directory, *name.split("/")), payload)

    def _publish(self, target: str, payload: bytes) -> bool:
        """Write to a temporary file in the target's directory, then ``os.replace``: readers see
        the old file or the new one, never a part. Any OSError: False, nothing left behind."""
        tmp = None
        try:
            if not self._prepared:
                self._prepare()
            directory = os.path.dirname(target)
            os.makedirs(directory, exist_ok=True)
            name = os.path.basename(target)
            tmp = os.path.join(directory, f".{name[:10]}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            with os.fdopen(fd, "wb") as handle:
                handle.write(payload)
            os.replace(tmp, target)
            tmp = None
            return True
        except OSError:
            return False
        finally:
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass

    def _prepare(self) -> None:
        """Create the directory, with a CACHEDIR.TAG and a .gitignore so it is never committed."""
        self._prepared = True
        os.makedirs(self.directory, exist_ok=True)
        for name, text in ((".gitignore", "# created by leaflint\n*\n"),
                           ("CACHEDIR.TAG", "Signature: 8a477f597d28d172789f06886806bc55\n"
                                            "# This file is a cache directory tag created by leaflint.\n")):
            path = os.path.join(self.directory, name)
            if not os.path.exists(path):
                try:
                    with open(path, "w", encoding="utf-8") as handle:
                        handle.write(text)
                except OSError:
                    pass

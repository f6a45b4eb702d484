"""The project index's own entry in the cache: one file per project root that says, for each
module the index has read, what it found there, so that a run reads only the files that changed.

Per module (its path from the root):

* **what the file holds**: its stat signature (size, mtime, ctime and inode, in nanoseconds),
  the digest of its bytes (``leaflint.cache.content_digest``, what entry keys hold), whether it
  passes the prefilter, and its imports as ``layout.scan`` found them (resolution is done again
  each run: it depends on which other files exist);
* **its summary**, with the key it was computed under: the key of the per-file entries, made
  without the rule codes (a summary does not depend on them: ``summary_key``), so it covers the
  file's bytes and the digests of every summary it read. Summaries are kept as JSON text and
  decoded only for the modules a run reaches.

**Trusting a signature.** A module whose signature equals the one on record is not read again:
its digest, prefilter verdict and imports are taken from here. Any write to a file moves its
mtime and its ctime (which no program can set back; ``touch``, ``cp -p`` or a checkout that
restores an old mtime still move the ctime), and a file replaced by a rename gets another inode.
What a signature cannot see is a rewrite within one tick of the file system's clock (as coarse
as 2 s on some file systems) of a file read in that same tick: as git does with "racily clean"
index entries, a signature is recorded only for a file whose mtime and ctime are at least
``RACY_NS`` older than the moment the run began; a younger file is recorded without one, and is
read and hashed again by the next run. Limits, as for coverage.py's and ruff's caches: a clock
set back by more than ``RACY_NS``, a file system that updates neither mtime nor ctime on write,
and, on Windows, where ``st_ctime`` is the creation time, a program that rewrites a file with the
same size and then sets its mtime back. ``--no-cache`` (or deleting the cache directory) reads
every file.

The entry is JSON, written whole or not at all (``Cache.write_blob``), and only when a run learned
something new; a missing, unreadable or malformed entry, or one of another leaflint, Python or
libcst (its name holds the cache's fingerprint), is an empty one: every file is read.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Optional

try:  # the builtin module (see leaflint/cache.py)
    from _blake2 import blake2b
except ImportError:  # pragma: no cover
    from hashlib import blake2b

from leaflint.cache import Cache

FORMAT = 1
RACY_NS = 3_000_000_000  # younger files are not recorded (see the module docstring)
_now = time.time_ns  # the clock file systems stamp files with


@dataclass
class Facts:
    """What a module's file holds, as the index needs it."""

    digest: str  # leaflint.cache.content_digest of its bytes
    may_hold: bool  # passes the prefilter
    scanned: list  # layout.scan of its text


def signature(st: os.stat_result) -> list[int]:
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def _valid_scan(scanned: object) -> bool:
    if not isinstance(scanned, list):
        return False
    for item in scanned:
        if not (isinstance(item, list) and len(item) == 3 and isinstance(item[0], int)
                and isinstance(item[1], str) and isinstance(item[2], list)):
            return False
        for pair in item[2]:
            if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)
                    and isinstance(pair[1], str)):
                return False
    return True


class IndexStore:
    """The entry of one project root in ``cache`` (nothing is read or kept without a cache)."""

    def __init__(self, cache: Optional[Cache], root: str) -> None:
        self.cache = cache
        self.root = root
        self.started = _now()
        self.changed = False
        self._files: dict[str, list] = {}  # rel -> [signature or None, digest, may_hold, scanned]
        self._summaries: dict[str, list] = {}  # rel -> [summary key, summary as JSON text]
        self.name = None
        if cache is not None:
            tag = blake2b(f"{cache.fingerprint}\0{FORMAT}\0{root}".encode(), digest_size=16).hexdigest()
            self.name = f"index/{tag}.idx"
            self._load(cache.read_blob(self.name))

    def _load(self, raw: Optional[bytes]) -> None:
        if not raw:
            return
        try:
            entry = json.loads(raw)
        except ValueError:  # (UnicodeDecodeError is one)
            return
        if not isinstance(entry, dict) or entry.get("root") != self.root:
            return
        files, summaries = entry.get("files"), entry.get("summaries")
        if isinstance(files, dict) and isinstance(summaries, dict):
            self._files, self._summaries = files, summaries

    # ------------------------------------------------------------------ what a file holds
    def known(self, rel: str, st: os.stat_result) -> Optional[Facts]:
        """The facts on record for the file with this stat, when its signature is unchanged."""
        record = self._files.get(rel)
        if not isinstance(record, list) or len(record) != 4 or record[0] != signature(st):
            return None
        _, digest, may_hold, scanned = record
        if not isinstance(digest, str) or not isinstance(may_hold, bool) or not _valid_scan(scanned):
            return None
        return Facts(digest, may_hold, scanned)

    def remember(self, rel: str, st: Optional[os.stat_result], facts: Facts) -> None:
        """Record what the file holds; ``st`` from before it was read. A file without a
        trustworthy signature (no ``st``, or younger than ``RACY_NS``) is not recorded: the next
        run reads it again whatever is on record, so a record would only cost a rewrite."""
        if st is None or max(st.st_mtime_ns, st.st_ctime_ns) >= self.started - RACY_NS:
            self.forget(rel)
            return
        record = [signature(st), facts.digest, facts.may_hold, [list(map(_listed, item)) for item in facts.scanned]]
        if self._files.get(rel) != record:
            self._files[rel] = record
            self.changed = True

    def recorded(self, rel: str) -> bool:
        """Is the file on record (its signature trusted)?"""
        return rel in self._files

    def forget(self, rel: str) -> None:
        """The file is gone, unreadable or being written: nothing about it is on record."""
        if self._files.pop(rel, None) is not None:
            self.changed = True
        if self._summaries.pop(rel, None) is not None:
            self.changed = True

    # ------------------------------------------------------------------ summaries
    def summary(self, rel: str, key: str) -> Optional[tuple[dict, str]]:
        """The module's summary computed under ``key``, and its canonical JSON text, or None."""
        record = self._summaries.get(rel)
        if not isinstance(record, list) or len(record) != 2 or record[0] != key or not isinstance(record[1], str):
            return None
        try:
            summary = json.loads(record[1])
        except ValueError:
            return None
        return (summary, record[1]) if isinstance(summary, dict) else None

    def keep_summary(self, rel: str, key: str, text: str) -> None:
        """Keep a module's summary (its ``canonical`` text) computed under ``key``, when its file is
        on record (a file being edited would only make the entry be written again each run)."""
        if rel not in self._files:
            return
        record = self._summaries.get(rel)
        if isinstance(record, list) and record and record[0] == key:
            return
        self._summaries[rel] = [key, text]
        self.changed = True

    def save(self) -> None:
        """Write the entry when the run learned something (best-effort, as every cache write)."""
        if self.cache is None or self.name is None or not self.changed:
            return
        payload = json.dumps({"format": FORMAT, "root": self.root, "files": self._files,
                              "summaries": self._summaries}, separators=(",", ":"))
        if self.cache.write_blob(self.name, payload.encode()):
            self.changed = False


def canonical(summary: dict) -> str:
    """A summary as JSON text, the same for equal summaries (its digest is taken of this text)."""
    return json.dumps(summary, sort_keys=True, separators=(",", ":"))


def _listed(value):
    """A scanned import as JSON holds it (tuples become lists), so records compare equal."""
    if isinstance(value, (list, tuple)):
        return [_listed(v) for v in value]
    return value

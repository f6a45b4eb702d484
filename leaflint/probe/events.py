"""Per-process event files: written as events happen, read back by the parent.

Layout of an events directory::

    events-<pid>.jsonl   one JSON object per line (the kinds: ``schema``)
    lines-<pid>.txt      line coverage: ``<line>\\t<realpath>`` per first-seen line
    targets.json         optional: {realpath: [lines]} the lines worth covering

Files are opened with O_APPEND and written with one ``os.write`` per record, so a
forked worker that leaves through ``os._exit``, a crash or a kill keeps everything
written before it.
"""

from __future__ import annotations

import json
import os
import threading

ENV_DIR = "LEAFLINT_PROBE_EVENTS"
ENV_ROOT = "LEAFLINT_PROBE_ROOT"
ENV_KEEP_GOING = "LEAFLINT_PROBE_KEEP_GOING"
ENV_TARGETS = "LEAFLINT_PROBE_TARGETS"


class AppendFile:
    """A per-process append-only file that reopens itself after fork (new pid, new file)."""

    def __init__(self, directory: str, prefix: str, suffix: str):
        self.directory = directory
        self.prefix = prefix
        self.suffix = suffix
        self._fd = -1
        self._pid = -1
        self._lock = threading.Lock()

    def _open(self) -> int:
        pid = os.getpid()
        if self._pid != pid:
            path = os.path.join(self.directory, f"{self.prefix}{pid}{self.suffix}")
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            self._pid = pid
        return self._fd

    def write(self, data: str) -> None:
        try:
            with self._lock:
                os.write(self._open(), data.encode("utf-8", "replace"))
        except OSError:
            pass  # the events dir went away (parent gave up): never break the program

    def after_fork(self) -> None:
        self._lock = threading.Lock()
        self._pid = -1  # the inherited fd stays open and belongs to the parent's file


def dumps(record: dict) -> str:
    return json.dumps(record, separators=(",", ":"), default=str) + "\n"


def read_events(directory: str) -> list[dict]:
    out: list[dict] = []
    if not os.path.isdir(directory):
        return out
    for name in sorted(os.listdir(directory)):
        if not (name.startswith("events-") and name.endswith(".jsonl")):
            continue
        try:
            with open(os.path.join(directory, name), encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    line = line.strip()
                    if not line:
                        continue
                    try:
                        out.append(json.loads(line))
                    except ValueError:
                        continue  # a record torn by a kill mid-write
        except OSError:
            continue
    return out


def read_coverage(directory: str) -> set[tuple[str, int]]:
    seen: set[tuple[str, int]] = set()
    if not os.path.isdir(directory):
        return seen
    for name in os.listdir(directory):
        if not (name.startswith("lines-") and name.endswith(".txt")):
            continue
        try:
            with open(os.path.join(directory, name), encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    num, _, path = line.rstrip("\n").partition("\t")
                    if path and num.isdigit():
                        seen.add((path, int(num)))
        except OSError:
            continue
    return seen

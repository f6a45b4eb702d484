"""Probe runs a test module starts together, each in its own directory (a module fixture).

A probe run is two interpreters (the CLI, then the program importing torch) that mostly wait
on one core; a module's independent runs are started at once in a small pool, and each test
takes the one it asserts on (``runs["name"]`` waits for that run only). Tests that assert
different things about the same program and command share one run. No clock is involved:
every run ends by itself (or at its own ``--timeout``, counted from a readiness file).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKERS = 3  # two cores: one run mostly waits on a child, a third keeps both busy
SAFETY_TIMEOUT = 900  # a hung run fails its test instead of hanging the suite (not a measurement)


def probe_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("PYTEST_ADDOPTS", None)
    return env


def write(directory: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (directory / name).write_text(textwrap.dedent(text), encoding="utf-8")


class Runs:
    """``leaflint probe ARGS`` runs, started on ``add``; ``runs[name]`` is a CompletedProcess."""

    def __init__(self, base: Path, workers: int = WORKERS):
        self.base = base
        self.pool = ThreadPoolExecutor(max_workers=workers)
        self.futures: dict[str, Future] = {}

    def add(self, name: str, files: dict[str, str], args: list[str]) -> Path:
        """Write ``files`` into a fresh directory ``base/name`` and start ``leaflint probe ARGS``
        there (``{dir}`` in an argument is that directory)."""
        return self.add_command(name, files, [sys.executable, "-m", "leaflint.probe.cli", *args])

    def add_command(self, name: str, files: dict[str, str], argv: list[str]) -> Path:
        """As ``add``, for any command (``python -m pytest --leaflint-probe ...``)."""
        directory = self.base / name
        directory.mkdir()
        write(directory, files)
        argv = [str(a).replace("{dir}", str(directory)) for a in argv]
        self.futures[name] = self.pool.submit(
            subprocess.run, argv, cwd=directory, env=probe_env(), capture_output=True, text=True,
            timeout=SAFETY_TIMEOUT, stdin=subprocess.DEVNULL)
        return directory

    def __getitem__(self, name: str) -> subprocess.CompletedProcess:
        return self.futures[name].result()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

"""``leaflint ARGS`` inside the test process, through click's CliRunner.

For tests about what a command does (configuration, suppressions, notebooks, output formats,
the ruff-like conventions), not about the process that runs it: a fresh ``python -m leaflint``
costs an interpreter start-up and libcst's import per call. The tests of the process itself
keep a real one: test_cli.py (``python -m``, exit codes), test_hostile.py (hangs, bytes on
stdin), test_cache.py (warm runs), the pseudo-terminal test and the import checks.

Standard output is not a terminal, as in a pipe; ``color=True`` only stops click from stripping
escape codes, so the output is byte for byte what the command wrote (a colour leak would show).
The result is a ``subprocess.CompletedProcess`` (returncode, stdout, stderr), as the subprocess
helper it replaces returned. An exception escaping the command is raised here, not turned into
an exit code, so a crash can never pass for "exit 1, findings".
"""

from __future__ import annotations

import os
import subprocess

from click.testing import CliRunner

from leaflint.cli import main


def run(*args: str, cwd=None, stdin: str | None = None, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess:
    """``leaflint ARGS`` in directory ``cwd`` with ``stdin`` as standard input, without
    LEAFLINT_OUTPUT_FORMAT (as the tests' subprocesses ran) unless ``env`` sets it; ``env``
    is set for the call only."""
    before = os.getcwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        result = CliRunner().invoke(main, list(args), input=stdin, env={"LEAFLINT_OUTPUT_FORMAT": None, **(env or {})},
                                    catch_exceptions=False, color=True)
    finally:
        os.chdir(before)
    return subprocess.CompletedProcess(["leaflint", *args], result.exit_code, result.stdout, result.stderr)

"""``leaflint ARGS`` inside the test process, through click's CliRunner.

For tests about what a command does (configuration, suppressions, notebooks), not about the
process that runs it: a fresh ``python -m leaflint`` costs a start-up and libcst's import per
call. test_cli.py, test_cli_conventions.py, test_hostile.py and others still run the real
process (``python -m``, exit codes across the boundary, imports, stdin bytes, hangs).

The result is a ``subprocess.CompletedProcess`` (returncode, stdout, stderr), as the subprocess
helper it replaces returned. An exception escaping the command is raised here, not turned into
an exit code, so a crash can never pass for "exit 1, findings".
"""

from __future__ import annotations

import os
import subprocess

from click.testing import CliRunner

from leaflint.cli import main


def run(*args: str, cwd=None, stdin: str | None = None) -> subprocess.CompletedProcess:
    """``leaflint ARGS`` in directory ``cwd`` with ``stdin`` as standard input, and without
    LEAFLINT_OUTPUT_FORMAT (as the tests' subprocesses ran)."""
    before = os.getcwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        result = CliRunner().invoke(main, list(args), input=stdin, env={"LEAFLINT_OUTPUT_FORMAT": None},
                                    catch_exceptions=False)
    finally:
        os.chdir(before)
    return subprocess.CompletedProcess(["leaflint", *args], result.exit_code, result.stdout, result.stderr)

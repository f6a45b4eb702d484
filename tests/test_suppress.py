"""Suppression (line and file-level forms), --statistics, --exit-zero, and stdin."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from leaflint.suppress import parse
from hang_guard import HANG_GUARD
from cli_inprocess import run

BODY = textwrap.dedent("""\
    import torch
    from torch import nn

    w = torch.zeros(3, requires_grad=True)
    w.add_(1)
    w -= 1
    y = (w * w).sum()
    w.data = torch.ones(3)
    y.backward()
""")
# LL101 at 5, LL102 at 6, LL201 at 8


def codes(proc) -> list[tuple[int, str]]:
    assert proc.returncode in (0, 1), proc.stderr
    return [(d["location"]["row"], d["code"]) for d in json.loads(proc.stdout)]


def test_baseline(tmp_path):
    (tmp_path / "m.py").write_text(BODY)
    assert codes(run("check", "--output-format", "json", "m.py", cwd=tmp_path)) == [
        (5, "LL101"), (6, "LL102"), (8, "LL201")]


@pytest.mark.parametrize("header,expected", [
    ("# leaflint: noqa\n", []),
    ("#leaflint:noqa\n", []),
    ("# leaflint: noqa: LL2\n", [(6, "LL101"), (7, "LL102")]),
    ("# leaflint: noqa: LL101, LL102\n", [(9, "LL201")]),
    ("# LEAFLINT: NOQA: ll1\n", [(9, "LL201")]),
    # not on a line of its own: a line-level comment, and this line has no finding
    ("x = 1  # leaflint: noqa\n", [(6, "LL101"), (7, "LL102"), (9, "LL201")]),
])
def test_file_level_noqa(tmp_path, header, expected):
    (tmp_path / "m.py").write_text(header + BODY)
    assert codes(run("check", "--output-format", "json", "m.py", cwd=tmp_path)) == expected


def test_file_level_noqa_anywhere_in_the_file(tmp_path):
    (tmp_path / "m.py").write_text(BODY + "# leaflint: noqa: LL1\n")
    assert codes(run("check", "--output-format", "json", "m.py", cwd=tmp_path)) == [(8, "LL201")]


def test_line_level_forms(tmp_path):
    lines = BODY.splitlines()
    lines[4] += "  # leaflint: ignore[LL101]"
    lines[5] += "  # noqa: LL101"  # the wrong code: LL102 stays
    lines[7] += "  # NOQA"
    (tmp_path / "m.py").write_text("\n".join(lines) + "\n")
    assert codes(run("check", "--output-format", "json", "m.py", cwd=tmp_path)) == [(6, "LL102")]


def test_multiline_statement_noqa_on_its_last_line(tmp_path):
    (tmp_path / "m.py").write_text(textwrap.dedent("""\
        import torch
        w = torch.zeros(3, requires_grad=True)
        w.add_(
            1,
        )  # noqa: LL101
    """))
    assert codes(run("check", "--output-format", "json", "m.py", cwd=tmp_path)) == []


def test_parse_units():
    s = parse("# leaflint: noqa: LL2, LL101\nx = 1  # noqa: LL103 LL104\ny  # leaflint: ignore\n")
    assert s.file == frozenset({"LL2", "LL101"})
    assert s.suppresses("LL203", (9,)) and s.suppresses("LL101", (9,)) and not s.suppresses("LL102", (9,))
    assert s.suppresses("LL104", (2,)) and not s.suppresses("LL105", (2,))
    assert s.suppresses("LL999", (3,))
    assert parse("# leaflint: noqa\n").file is None


def test_statistics(tmp_path):
    (tmp_path / "a.py").write_text(BODY)
    (tmp_path / "b.py").write_text(BODY)
    proc = run("check", "--statistics", ".", cwd=tmp_path)
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    rows = [line.split("\t") for line in lines if "\t" in line]
    assert [(int(n), code, name) for n, code, name in rows] == [
        (2, "LL101", "inplace-method-on-leaf"), (2, "LL102", "augmented-assignment-on-leaf"),
        (2, "LL201", "data-write-in-graph-context")]
    # ruff's --statistics: the total right after the counts, on stdout (not a second summary on stderr)
    assert lines[len(rows)] == "Found 6 findings."
    assert "Found" not in proc.stderr


def test_exit_zero(tmp_path):
    (tmp_path / "a.py").write_text(BODY)
    proc = run("check", "--exit-zero", "a.py", cwd=tmp_path)
    assert proc.returncode == 0
    assert "a.py:5:1: LL101" in proc.stdout
    # usage errors are still errors
    assert run("check", "--exit-zero", "--select", "XX1", "a.py", cwd=tmp_path).returncode == 2


# --- stdin -----------------------------------------------------------------------------------

def test_stdin_with_a_filename(tmp_path):
    proc = run("check", "-", "--stdin-filename", "pkg/model.py", cwd=tmp_path, stdin=BODY)
    assert proc.returncode == 1, proc.stderr
    assert [line.split(": ")[0] for line in proc.stdout.splitlines()] == [
        "pkg/model.py:5:1", "pkg/model.py:6:1", "pkg/model.py:8:1"]
    assert "1 file checked" in proc.stderr


def test_stdin_without_a_filename_and_clean_input(tmp_path):
    proc = run("check", "-", cwd=tmp_path, stdin=BODY)
    assert proc.returncode == 1
    assert proc.stdout.startswith("-:5:1: LL101")
    clean = run("check", "-", cwd=tmp_path, stdin="import torch\n")
    assert clean.returncode == 0 and clean.stdout == ""
    # --stdin-filename alone also reads stdin
    alone = run("check", "--stdin-filename", "x.py", cwd=tmp_path, stdin=BODY)
    assert alone.returncode == 1 and alone.stdout.startswith("x.py:5:1: LL101")


def test_stdin_uses_the_config_and_suppressions_of_the_name(tmp_path):
    (tmp_path / "pyproject.toml").write_text(textwrap.dedent("""\
        [tool.leaflint]
        ignore = ["LL2"]
        extend-exclude = ["vendored"]
        per-file-ignores = { "tests/*" = ["LL102"] }
    """))
    (tmp_path / "tests").mkdir()
    assert codes(run("check", "--output-format", "json", "-", "--stdin-filename", "tests/t.py",
                     cwd=tmp_path, stdin=BODY)) == [(5, "LL101")]
    assert codes(run("check", "--output-format", "json", "-", "--stdin-filename", "src/t.py",
                     cwd=tmp_path, stdin=BODY)) == [(5, "LL101"), (6, "LL102")]
    # from a subdirectory: the name is relative to the working directory
    assert codes(run("check", "--output-format", "json", "-", "--stdin-filename", "t.py",
                     cwd=tmp_path / "tests", stdin=BODY)) == [(5, "LL101")]
    # --force-exclude honours the configuration's excludes for the name
    proc = run("check", "--force-exclude", "-", "--stdin-filename", "vendored/v.py", cwd=tmp_path, stdin=BODY)
    assert proc.returncode == 0 and proc.stdout == ""
    # file-level suppression in the piped source
    assert codes(run("check", "--output-format", "json", "-", "--stdin-filename", "src/t.py",
                     cwd=tmp_path, stdin="# leaflint: noqa\n" + BODY)) == []


def test_stdin_syntax_error_and_binary(tmp_path):
    proc = run("check", "-", "--stdin-filename", "broken.py", cwd=tmp_path, stdin="import torch\ndef f(:\n")
    assert proc.returncode == 1
    assert proc.stdout.startswith("broken.py:2:7: LL001 SyntaxError")
    binary = subprocess.run([sys.executable, "-m", "leaflint", "check", "-", "--stdin-filename", "b.py"],
                            cwd=tmp_path, input=b"\x00\x01torch", capture_output=True, timeout=HANG_GUARD)
    assert binary.returncode == 1 and b"b.py:1:1: LL002" in binary.stdout


def test_dash_with_other_paths_is_a_usage_error(tmp_path):
    (tmp_path / "a.py").write_text(BODY)
    proc = run("check", "-", "a.py", cwd=tmp_path, stdin=BODY)
    assert proc.returncode == 2 and "stdin" in proc.stderr

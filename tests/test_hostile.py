"""The hostile-input matrix (issue 8, DESIGN.md section 8).

Each case runs ``leaflint check`` in a subprocess over a directory that holds the hostile file
and ``normal.py``, an ordinary file with one LL101 finding, and checks that: the hostile file
gets one clear diagnostic that names it (or, where the input is valid Python, is linted like any
other file); the run finishes; normal.py's finding is kept; the exit code follows the static
core's rules (1 when there are findings, LL001/LL002 diagnostics included; 2 for an internal
error or a path that does not exist).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from leaflint.cli import main
from hang_guard import HANG_GUARD

NORMAL = "import torch\nw = torch.zeros(3, requires_grad=True)\nw.add_(1)\n"
TIMEOUT = HANG_GUARD


def run_check(cwd, *paths, timeout=TIMEOUT, stdin=None, extra=()):
    """``leaflint check --output-format json`` in a subprocess: (exit code, findings, stderr)."""
    cmd = [sys.executable, "-m", "leaflint", "check", "--no-cache", "--isolated", "--output-format", "json",
           *extra, *(paths or (".",))]
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, timeout=timeout, input=stdin)
    out = proc.stdout.decode("utf-8")
    findings = json.loads(out) if out.strip() else []
    return proc.returncode, findings, proc.stderr.decode("utf-8", "replace")


def of(findings, filename):
    return [f for f in findings if f["filename"] == filename]


def where(finding):
    return finding["code"], finding["location"]["row"], finding["location"]["column"]


def normal_kept(findings):
    assert [where(f) for f in of(findings, "normal.py")] == [("LL101", 3, 1)]


@pytest.fixture()
def tree(tmp_path):
    (tmp_path / "normal.py").write_text(NORMAL)
    return tmp_path


def lint_without_libcst(text, filename):
    """``lint_source`` with libcst's parser made to fail: the findings of a file that leaflint
    refuses or skips before the (slow) full parse. Speed shown by what runs, not by a clock."""
    import libcst

    from leaflint.engine import lint_source
    from leaflint.rules import select_rules

    def refuse(*args, **kwargs):
        raise AssertionError(f"libcst parsed {filename}")

    real = libcst.parse_module
    libcst.parse_module = refuse
    try:
        return lint_source(text, filename, select_rules())
    finally:
        libcst.parse_module = real


def check_one_diagnostic(tree, name, code, text, row=1, expected_rc=1):
    """Run over ``tree``; the hostile file ``name`` has exactly one ``code`` diagnostic whose
    message contains ``text``; normal.py keeps its finding."""
    rc, findings, stderr = run_check(tree)
    assert rc == expected_rc, stderr
    mine = of(findings, name)
    assert len(mine) == 1, findings
    assert mine[0]["code"] == code and text in mine[0]["message"], mine
    if row is not None:
        assert mine[0]["location"]["row"] == row
    normal_kept(findings)
    assert "Traceback" not in stderr
    return mine[0]


# ------------------------------------------------------------------------------- bad bytes


def test_syntax_error(tree):
    (tree / "broken.py").write_text("import torch\ndef f(:\n    pass\n")
    diag = check_one_diagnostic(tree, "broken.py", "LL001", "SyntaxError", row=2)
    assert diag["location"]["column"] == 7


def test_binary_file_named_py(tree):
    (tree / "blob.py").write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 8)
    check_one_diagnostic(tree, "blob.py", "LL002", "binary file")


def test_binary_file_without_nul_bytes(tree):
    (tree / "noise.py").write_bytes(bytes(range(0x80, 0x100)) * 16)
    check_one_diagnostic(tree, "noise.py", "LL002", "cannot decode as utf-8")


def test_non_utf8_without_cookie(tree):
    (tree / "latin.py").write_bytes(b"import torch\nname = 'caf\xe9'\n")
    diag = check_one_diagnostic(tree, "latin.py", "LL002", "cannot decode as utf-8 at line 2")
    assert "coding" in diag["message"]  # says how to fix it


def test_latin1_with_cookie_lints_normally(tree):
    (tree / "latin.py").write_bytes(b"# -*- coding: latin-1 -*-\nimport torch\nname = 'caf\xe9'\n"
                                    b"w = torch.zeros(3, requires_grad=True); s = '\xe9\xe9'; w.add_(1)\n")
    rc, findings, _ = run_check(tree)
    assert rc == 1
    # the file is decoded with its cookie's codec: the finding is where the characters say
    line = "w = torch.zeros(3, requires_grad=True); s = '\xe9\xe9'; w.add_(1)"
    assert [where(f) for f in of(findings, "latin.py")] == [("LL101", 4, line.index("w.add_") + 1)] == [("LL101", 4, 51)]
    normal_kept(findings)


@pytest.mark.parametrize("cookie, text", [(b"# coding: no-such-codec\n", "unknown encoding"),
                                          (b"\xef\xbb\xbf# coding: latin-1\n", "encoding problem")])
def test_bad_coding_cookie(tree, cookie, text):
    (tree / "cookie.py").write_bytes(cookie + b"import torch\n")
    check_one_diagnostic(tree, "cookie.py", "LL002", text)


def test_utf8_bom(tree):
    (tree / "bom.py").write_bytes(b"\xef\xbb\xbf" + "import torch\nw = torch.zeros(3, requires_grad=True)\n"
                                  "é = 1; w.add_(1)\n".encode())
    rc, findings, _ = run_check(tree)
    assert rc == 1
    assert [where(f) for f in of(findings, "bom.py")] == [("LL101", 3, 8)]  # the BOM is not a column
    normal_kept(findings)


@pytest.mark.parametrize("newline", ["\r\n", "\r"], ids=["crlf", "cr"])
def test_crlf_and_cr_line_endings(tree, newline):
    text = "import torch\nw = torch.zeros(\n    3, requires_grad=True)\nw.add_(1)\n".replace("\n", newline)
    (tree / "eol.py").write_bytes(text.encode())
    rc, findings, _ = run_check(tree)
    assert rc == 1
    assert [where(f) for f in of(findings, "eol.py")] == [("LL101", 4, 1)]
    normal_kept(findings)


def test_tabs(tree):
    (tree / "tabs.py").write_text("import torch\nif True:\n\tw = torch.zeros(3, requires_grad=True)\n\tw.add_(1)\n")
    rc, findings, _ = run_check(tree)
    assert rc == 1
    assert [where(f) for f in of(findings, "tabs.py")] == [("LL101", 4, 2)]  # a tab is one column
    normal_kept(findings)


def test_inconsistent_tabs_and_spaces(tree):
    (tree / "mixed.py").write_text("import torch\nif True:\n        x = 1\n\ty = 2\n")
    check_one_diagnostic(tree, "mixed.py", "LL001", "inconsistent use of tabs", row=4)


@pytest.mark.parametrize("content", [b"", b"\xef\xbb\xbf", b"\n\n   \n", b"# torch\n"], ids=["empty", "bom-only",
                                                                                              "blank", "comment"])
def test_empty_file(tree, content):
    (tree / "empty.py").write_bytes(content)
    rc, findings, stderr = run_check(tree)
    assert rc == 1, stderr
    assert of(findings, "empty.py") == []
    normal_kept(findings)


# ---------------------------------------------------------------------------- deep and big


def test_300_nested_parentheses(tree):
    (tree / "deep.py").write_text("import torch\nx = " + "(" * 300 + "1" + ")" * 300 + "\n")
    check_one_diagnostic(tree, "deep.py", "LL001", "too many nested parentheses", row=2)


@pytest.mark.parametrize("body, code", [
    # these used to kill the whole run: libcst's native parser overflowed the stack (SIGSEGV)
    ("x = " + "(" * 20000 + "1" + ")" * 20000, "LL001"),
    ("x = " + " and ".join(["a"] * 12000), None),  # valid Python: it is simply linted
    # this took libcst 30 s and 5 GB: CPython refuses it at once
    ("x = (\n" + "-\n" * 10000 + "1)", "LL001"),
    # valid Python that used to be an internal error (RecursionError in the analysis)
    ("x = " + "f(" * 199 + "1" + ")" * 199, None),
], ids=["20000-parens", "12000-and", "10000-unary-lines", "199-nested-calls"])
def test_nesting_that_crashed_or_stalled(tree, body, code):
    (tree / "deep.py").write_text("import torch\n" + body + "\nw = torch.zeros(3, requires_grad=True)\nw.add_(1)\n")
    rc, findings, stderr = run_check(tree)
    assert rc == 1, stderr
    mine = of(findings, "deep.py")
    if code is None:
        assert [f["code"] for f in mine] == ["LL101"], mine
    else:
        assert [f["code"] for f in mine] == [code], mine
        assert "SyntaxError" in mine[0]["message"]
        # CPython refuses it at once; libcst (which crashed or stalled on it) never sees it
        text = (tree / "deep.py").read_text()
        assert [f.code for f in lint_without_libcst(text, "deep.py")] == [code]
    normal_kept(findings)


@pytest.mark.parametrize("body", [
    "x = " + "'a' " * 6000,  # libcst gives up on long implicit string concatenations
    # found by bench/fuzz.py (hypothesmith and the mutator):
    "\\\r\n",  # a continuation then EOF with CRLF
    "if a:\n    pass\n\\\nelse:\n    pass\n",  # a line holding only `\` before `else:`
    "if a:\n    if b:\n\t    c\n    d\n",  # tabs and spaces mixed the way CPython accepts
], ids=["6000-strings", "crlf-continuation-at-eof", "continuation-before-else", "tab-space-mix"])
def test_valid_python_that_libcst_cannot_parse_is_not_a_syntax_error(tree, body):
    source = "import torch\n" + body
    compile(source, "odd.py", "exec")  # Python accepts it
    (tree / "odd.py").write_bytes(source.encode())
    diag = check_one_diagnostic(tree, "odd.py", "LL002", "cannot parse this file, though Python can", row=None)
    assert "please report it" in diag["message"]


def test_200000_line_file(tree):
    lines = ["import torch", "w = torch.zeros(3, requires_grad=True)"]
    lines += [f"value_{i} = torch.full((2,), {i}.0) * {i % 7}" for i in range(200_000 - 3)]
    lines.append("w.add_(1)")
    (tree / "huge.py").write_text("\n".join(lines) + "\n")
    diag = check_one_diagnostic(tree, "huge.py", "LL002", "file too large to check")
    assert "exclude it" in diag["message"]
    # refused before libcst parses it (what made it slow), whatever the machine's speed
    assert [f.code for f in lint_without_libcst((tree / "huge.py").read_text(), "huge.py")] == ["LL002"]


def test_200000_line_file_without_torch_is_skipped_quickly(tree):
    (tree / "table.py").write_text("".join(f"ROW_{i} = ({i}, {i * i}, 'r{i}')\n" for i in range(200_000)))
    rc, findings, _ = run_check(tree)
    assert rc == 1 and of(findings, "table.py") == []
    normal_kept(findings)
    # skipped by the prefilter: CPython's parser only, never libcst's
    assert lint_without_libcst((tree / "table.py").read_text(), "table.py") == []


# ------------------------------------------------------------------------ the file system


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_unreadable_file_chmod_000(tree):
    if os.geteuid() == 0:
        pytest.skip("running as root: chmod 000 does not stop root from reading "
                    "(test_unreadable_file_simulated covers the path)")
    path = tree / "locked.py"
    path.write_text(NORMAL)
    path.chmod(0)
    try:
        check_one_diagnostic(tree, "locked.py", "LL002", "Permission denied")
    finally:
        path.chmod(0o644)


def test_unreadable_file_simulated(tree, monkeypatch):
    """In process: opening locked.py fails with EACCES, as chmod 000 does for a normal user."""
    (tree / "locked.py").write_text(NORMAL)
    real_open = os.open

    def guarded_open(path, flags, *args, **kwargs):
        if os.path.basename(os.fsdecode(path)) == "locked.py":
            raise PermissionError(13, "Permission denied", os.fsdecode(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.chdir(tree)
    monkeypatch.setattr(os, "open", guarded_open)
    result = CliRunner().invoke(main, ["check", "--no-cache", "--isolated", "--output-format", "json", "-j", "1", "."])
    assert result.exit_code == 1, result.output
    findings = json.loads(result.stdout)
    assert [(f["code"], f["message"]) for f in of(findings, "locked.py")] == [
        ("LL002", "cannot read file: Permission denied")]
    normal_kept(findings)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_symlink_loop(tree):
    os.symlink("loop_b.py", tree / "loop_a.py")
    os.symlink("loop_a.py", tree / "loop_b.py")
    os.mkdir(tree / "pkg")
    os.symlink("..", tree / "pkg" / "up")  # a directory loop: must not be walked forever
    rc, findings, stderr = run_check(tree)
    assert rc == 1, stderr
    for name in ("loop_a.py", "loop_b.py"):
        [diag] = of(findings, name)
        assert diag["code"] == "LL002" and "symlink loop" in diag["message"]
    normal_kept(findings)  # once: not again through pkg/up
    assert all(not f["filename"].startswith("pkg") for f in findings)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_broken_symlink(tree):
    os.symlink("gone.py", tree / "dangling.py")
    check_one_diagnostic(tree, "dangling.py", "LL002", "broken symlink")


def test_directory_named_x_py(tree):
    """A directory is walked, whatever its name: it is not a file to diagnose."""
    os.mkdir(tree / "x.py")
    (tree / "x.py" / "inner.py").write_text(NORMAL)
    for args in ((".",), ("x.py", "normal.py")):
        rc, findings, stderr = run_check(tree, *args)
        assert rc == 1, stderr
        assert [where(f) for f in of(findings, os.path.join("x.py", "inner.py"))] == [("LL101", 3, 1)]
        assert of(findings, "x.py") == []
        normal_kept(findings)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_named_py_does_not_hang(tree):
    os.mkfifo(tree / "pipe.py")
    check_one_diagnostic(tree, "pipe.py", "LL002", "not a regular file (a FIFO)")


@pytest.mark.skipif(not os.path.exists("/dev/zero") or not hasattr(os, "symlink"), reason="needs /dev/zero")
def test_device_named_py_is_not_read_forever(tree):
    os.symlink("/dev/zero", tree / "zero.py")
    check_one_diagnostic(tree, "zero.py", "LL002", "not a regular file (a device)")


# ------------------------------------------------------------------------------ notebooks


def _notebook_support():
    try:
        from leaflint import notebook  # noqa: F401
    except ImportError:
        pytest.skip("leaflint.notebook does not exist: no notebook support to test")


@pytest.mark.parametrize("content, text", [
    (b'{"cells": [', "malformed notebook"),
    (b"\xff\xfe not json", "malformed notebook"),
    (b'{"cells": 5}', "malformed notebook"),
    (b'{"cells": [{"cell_type": "code", "source": 42}]}', "malformed notebook"),
    (b"[1, 2, 3]", "malformed notebook"),
], ids=["truncated", "binary", "cells-not-a-list", "source-not-text", "not-an-object"])
def test_malformed_notebook(tree, content, text):
    _notebook_support()
    (tree / "nb.ipynb").write_bytes(content)
    check_one_diagnostic(tree, "nb.ipynb", "LL002", text)


def test_notebook_with_a_syntax_error_in_a_cell(tree):
    _notebook_support()
    nb = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# title"]},
                    {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
                     "source": ["import torch\n", "def f(:\n", "    pass"]}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (tree / "nb.ipynb").write_text(json.dumps(nb))
    rc, findings, _ = run_check(tree)
    assert rc == 1
    [diag] = of(findings, "nb.ipynb")
    assert diag["code"] == "LL001" and diag.get("cell") == 2 and diag["location"]["row"] == 2
    normal_kept(findings)


# ------------------------------------------------------------------------- paths and stdin


def test_path_that_does_not_exist(tree):
    rc, findings, stderr = run_check(tree, "nope.py", "normal.py")
    assert rc == 2
    assert "nope.py" in stderr and "No such file or directory" in stderr
    normal_kept(findings)  # the paths that exist are still checked and reported


def test_only_a_missing_path(tree):
    rc, findings, stderr = run_check(tree, "nope.py")
    assert rc == 2 and findings == []
    assert "leaflint: error: nope.py: No such file or directory" in stderr


def test_binary_on_stdin(tree):
    rc, findings, stderr = run_check(tree, "-", stdin=b"\x00\x01binary", extra=("--stdin-filename", "in.py"))
    assert rc == 1, stderr
    assert [(f["filename"], f["code"]) for f in findings] == [("in.py", "LL002")]


def test_concise_output_names_each_hostile_file(tree):
    (tree / "broken.py").write_text("import torch\ndef f(:\n")
    (tree / "blob.py").write_bytes(b"\x00" * 10)
    proc = subprocess.run([sys.executable, "-m", "leaflint", "check", "--no-cache", "--isolated", "."],
                          cwd=tree, capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert any(line.startswith("blob.py:1:1: LL002 binary file") for line in lines), lines
    assert any(line.startswith("broken.py:2:7: LL001 SyntaxError") for line in lines), lines
    assert any(line.startswith("normal.py:3:1: LL101") for line in lines), lines

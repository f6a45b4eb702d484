"""The check command end to end: output, exit codes, selection, suppression, no torch import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from hang_guard import HANG_GUARD

BAD = textwrap.dedent("""\
    import torch

    w = torch.zeros(3, requires_grad=True)
    w.add_(1)
    w -= 1
""")
GOOD = "import torch\nx = torch.zeros(3)\nx.add_(1)\n"


def run(*args, cwd=None, stdin=None):
    return subprocess.run([sys.executable, "-m", "leaflint", *args], cwd=cwd, input=stdin,
                          capture_output=True, text=True, timeout=HANG_GUARD)


@pytest.fixture()
def project(tmp_path):
    (tmp_path / "bad.py").write_text(BAD)
    (tmp_path / "good.py").write_text(GOOD)
    return tmp_path


def test_concise_output_and_exit_1(project):
    proc = run("check", ".", cwd=project)
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("bad.py:4:1: LL101 ")
    assert lines[1].startswith("bad.py:5:1: LL102 ")
    assert "Found 2 findings" in proc.stderr


def test_clean_exit_0(project):
    proc = run("check", "good.py", cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert "All checks passed" in proc.stderr


def test_json_output(project):
    proc = run("check", "--output-format", "json", "bad.py", cwd=project)
    data = json.loads(proc.stdout)
    assert [d["code"] for d in data] == ["LL101", "LL102"]
    first = data[0]
    assert first["name"] == "inplace-method-on-leaf"
    assert first["location"] == {"row": 4, "column": 1}
    assert first["end_location"] == {"row": 4, "column": 10}
    assert first["fix"] is None or isinstance(first["fix"], dict)
    assert first["filename"] == "bad.py"


def test_full_output_has_source_and_caret(project):
    proc = run("check", "--output-format", "full", "bad.py", cwd=project)
    assert "4 | w.add_(1)" in proc.stdout
    assert "  | ^^^^^^^^^" in proc.stdout


def test_select_ignore_prefix_and_all(project):
    assert [l.split()[1] for l in run("check", "--select", "LL102", "bad.py", cwd=project).stdout.splitlines()] == ["LL102"]
    assert run("check", "--ignore", "LL1", "bad.py", cwd=project).returncode == 0
    assert run("check", "--select", "ALL", "--ignore", "LL101", "bad.py", cwd=project).stdout.count("LL1") == 1
    proc = run("check", "--select", "XX9", "bad.py", cwd=project)
    assert proc.returncode == 2 and "XX9" in proc.stderr


def test_noqa_forms(tmp_path):
    (tmp_path / "s.py").write_text(textwrap.dedent("""\
        import torch
        w = torch.zeros(3, requires_grad=True)
        w.add_(1)  # noqa: LL101
        w.add_(1)  # noqa
        w.add_(1)  # leaflint: ignore[LL1]
        w.add_(1)  # noqa: LL102
    """))
    proc = run("check", "s.py", cwd=tmp_path)
    assert [l.split(":")[1] for l in proc.stdout.splitlines()] == ["6"]


def test_syntax_error_is_a_finding_and_run_goes_on(project):
    (project / "broken.py").write_text("import torch\ndef f(:\n    pass\n")
    proc = run("check", ".", cwd=project)
    assert proc.returncode == 1
    assert "broken.py:2:7: LL001 SyntaxError" in proc.stdout
    assert "bad.py:4:1: LL101" in proc.stdout


def test_missing_path_exit_2(project):
    proc = run("check", "nope.py", cwd=project)
    assert proc.returncode == 2
    assert "nope.py" in proc.stderr


def test_discovery_excludes_and_gitignore(project):
    for d in ("build", ".venv", "node_modules", "ignored_dir"):
        (project / d).mkdir()
        (project / d / "x.py").write_text(BAD)
    (project / ".gitignore").write_text("ignored_dir/\n")
    proc = run("check", ".", "--output-format", "json", cwd=project)
    files = {d["filename"] for d in json.loads(proc.stdout)}
    assert files == {"bad.py"}


def test_check_does_not_import_torch(project):
    code = ("import sys, runpy\nsys.argv=['leaflint','check','.']\n"
            "try:\n    runpy.run_module('leaflint', run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "print('TORCH' if any(m == 'torch' or m.startswith('torch.') for m in sys.modules) else 'NO-TORCH', file=sys.stderr)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=project, capture_output=True, text=True, timeout=HANG_GUARD)
    assert proc.stderr.strip().endswith("NO-TORCH"), proc.stderr


def test_rule_docs_command():
    proc = run("rule", "LL101")
    assert proc.returncode == 0
    assert "## Why is this bad?" in proc.stdout
    listing = run("rule", "--all").stdout
    assert "LL202" in listing and "(opt-in)" in listing
    data = json.loads(run("rule", "--all", "--output-format", "json").stdout)
    assert {d["code"] for d in data} >= {"LL101", "LL201", "LL301"}
    assert run("rule", "LL999").returncode == 2


def test_python_dash_m_and_version():
    proc = run("--version")
    assert proc.returncode == 0 and "leaflint" in proc.stdout

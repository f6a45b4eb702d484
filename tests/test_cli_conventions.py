"""`leaflint check` as a ruff user runs it: every syntax error reported, missing paths, -q/-s,
--statistics, --exit-non-zero-on-fix, --add-noqa (idempotent, notebooks), the grouped format,
`leaflint rule` by name and prefix, concise messages, and imports kept to what a command needs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hang_guard import HANG_GUARD
from cli_inprocess import run

from leaflint.rules.catalog import CATALOG

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"

BAD = "import torch\n\nw = torch.zeros(3, requires_grad=True)\nw.add_(1)\nw -= 1  # noqa: E501\n"


def nb(*sources: str) -> str:
    cells = [{"cell_type": "markdown", "metadata": {}, "source": ["# title\n"]}]
    cells += [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
               "source": source.splitlines(keepends=True)} for source in sources]
    return json.dumps({"cells": cells, "metadata": {"kernelspec": {"language": "python", "name": "python3"}},
                       "nbformat": 4, "nbformat_minor": 5}, indent=1) + "\n"


# ----------------------------------------------------------------------------- 1. syntax errors
@pytest.mark.parametrize("name, text", [
    ("plain.py", "def f(:\n    return 1\n"),              # no torch word: the prefilter skips libcst
    ("stub.pyi", "def f(x: int) -> int: ...\nclass C(:\n"),
    ("nb.ipynb", nb("x = 1\n", "%time y = 2\nif x\n    y = 3\n")),
])
def test_every_syntax_error_is_reported(tmp_path, name, text):
    (tmp_path / name).write_text(text)
    (tmp_path / "ok.py").write_text("print('hello')\n")
    for cache in (["--no-cache"], [], []):  # uncached, cold cache, warm cache
        proc = run("check", *cache, "--output-format", "json", ".", cwd=tmp_path)
        assert proc.returncode == 1, proc.stderr
        found = json.loads(proc.stdout)
        assert [(f["filename"], f["code"]) for f in found] == [(name, "LL001")], proc.stdout
        assert "All checks passed" not in proc.stderr


def test_syntax_error_position_in_a_skipped_file(tmp_path):
    (tmp_path / "m.py").write_text("x = 1\ny = (2,\n")
    proc = run("check", "--no-cache", "m.py", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stdout.startswith("m.py:2:5: LL001 SyntaxError: "), proc.stdout


# ----------------------------------------------------------------------------- 2. missing paths
def test_missing_path_no_success_line(tmp_path):
    proc = run("check", "nope.py", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "nope.py" in proc.stderr and "All checks passed" not in proc.stderr


def test_missing_folder_among_real_files_errors_on_stderr_only(tmp_path):
    (tmp_path / "bad.py").write_text(BAD)
    (tmp_path / "good.py").write_text("print(1)\n")
    proc = run("check", "good.py", "missing_dir", "bad.py", cwd=tmp_path)
    assert proc.returncode == 2
    assert all(line.startswith("bad.py:") for line in proc.stdout.splitlines()), proc.stdout
    assert "missing_dir" not in proc.stdout and "missing_dir" in proc.stderr
    clean = run("check", "good.py", "missing_dir", cwd=tmp_path)
    assert clean.returncode == 2 and "All checks passed" not in clean.stderr


# ----------------------------------------------------------------------------- 9. ruff's flags
def test_quiet_and_silent(tmp_path):
    (tmp_path / "bad.py").write_text(BAD)
    quiet = run("check", "-q", "bad.py", cwd=tmp_path)
    assert quiet.returncode == 1 and quiet.stdout.count("bad.py:") == 2 and quiet.stderr == ""
    silent = run("check", "--silent", "bad.py", cwd=tmp_path)
    assert silent.returncode == 1 and silent.stdout == "" and silent.stderr == ""
    (tmp_path / "good.py").write_text("print(1)\n")
    assert run("check", "-s", "good.py", cwd=tmp_path).returncode == 0


def test_statistics_prints_the_total(tmp_path):
    (tmp_path / "bad.py").write_text(BAD)
    proc = run("check", "--statistics", "bad.py", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stdout.splitlines()[-2:] == ["Found 2 findings.", "[*] 2 fixable with the `--fix` option."], proc.stdout
    assert proc.stderr == ""


def test_exit_non_zero_on_fix(tmp_path):
    source = ("import torch\nfrom torch import nn\n\n\nclass M(nn.Module):\n    def __init__(self):\n"
              "        super().__init__()\n        self.b = nn.Parameter(torch.empty(3))\n        self.b.zero_()\n")
    (tmp_path / "m.py").write_text(source)
    plain = run("check", "--fix", "m.py", cwd=tmp_path)
    assert plain.returncode == 0 and "nn.init.zeros_" in (tmp_path / "m.py").read_text()
    (tmp_path / "m.py").write_text(source)
    strict = run("check", "--fix", "--exit-non-zero-on-fix", "m.py", cwd=tmp_path)
    assert strict.returncode == 1, strict.stderr
    again = run("check", "--fix", "--exit-non-zero-on-fix", "m.py", cwd=tmp_path)
    assert again.returncode == 0  # nothing left to fix


def test_add_noqa_is_idempotent_and_keeps_other_codes(tmp_path):
    text = BAD + 's = """\ntext"""; w.mul_(2)\nw.zero_()  # a comment\n'
    (tmp_path / "m.py").write_bytes(text.replace("\n", "\r\n").encode())
    first = run("check", "--add-noqa", "m.py", cwd=tmp_path)
    assert first.returncode == 0 and "Added 4 noqa directives." in first.stderr, first.stderr
    after = (tmp_path / "m.py").read_bytes().decode()
    assert after.count("\r\n") == text.count("\n")  # line endings kept
    lines = after.split("\r\n")
    assert lines[3] == "w.add_(1)  # noqa: LL101"
    assert lines[4] == "w -= 1  # noqa: E501, LL102"
    assert lines[6] == 'text"""; w.mul_(2)  # noqa: LL101'  # not inside the string
    assert lines[7] == "w.zero_()  # a comment  # noqa: LL101"
    second = run("check", "--add-noqa", "m.py", cwd=tmp_path)
    assert "Added 0 noqa directives." in second.stderr
    assert (tmp_path / "m.py").read_bytes().decode() == after
    check = run("check", "m.py", cwd=tmp_path)
    assert check.returncode == 0, check.stdout


def test_add_noqa_in_a_notebook(tmp_path):
    path = tmp_path / "train.ipynb"
    path.write_text(nb("import torch\nw = torch.zeros(3, requires_grad=True)\n", "%time x = 1\nw.add_(1)\n"))
    first = run("check", "--add-noqa", "train.ipynb", cwd=tmp_path)
    assert first.returncode == 0 and "Added 1 noqa directive." in first.stderr, first.stderr
    document = json.loads(path.read_text())
    assert document["cells"][2]["source"] == ["%time x = 1\n", "w.add_(1)  # noqa: LL101\n"]  # the magic kept
    text = path.read_text()
    assert run("check", "--add-noqa", "train.ipynb", cwd=tmp_path).returncode == 0
    assert path.read_text() == text
    assert run("check", "train.ipynb", cwd=tmp_path).returncode == 0


def test_grouped_format(tmp_path):
    (tmp_path / "a.py").write_text(BAD)
    (tmp_path / "b.py").write_text("def f(:\n")
    proc = run("check", "--output-format", "grouped", ".", cwd=tmp_path)
    assert proc.returncode == 1
    lines = proc.stdout.split("\n")
    assert lines[0] == "a.py:"
    assert lines[1].startswith("  4:1 LL101 ") and lines[2].startswith("  5:1 LL102 ")
    assert lines[3] == "" and lines[4] == "b.py:" and lines[5].startswith("  1:7 LL001 ")


@pytest.mark.parametrize("query, codes", [
    ("inplace-method-on-leaf", ["LL101"]), ("DATA_READ_IN_FORWARD", ["LL203"]),
    ("LL3", sorted(code for code in CATALOG if code.startswith("LL3"))),  # every LL3 rule, in code order
    ("ll201", ["LL201"]),
])
def test_rule_by_name_and_prefix(query, codes):
    proc = run("rule", query)
    assert proc.returncode == 0, proc.stderr
    assert [line.split()[1] for line in proc.stdout.splitlines() if line.startswith("# LL")] == codes


def test_rule_unknown_is_a_usage_error():
    proc = run("rule", "no-such-rule")
    assert proc.returncode == 2 and "unknown rule" in proc.stderr


def test_gitignore_ignores_virtualenvs():
    assert ".venv/" in (ROOT / ".gitignore").read_text().splitlines()


# ----------------------------------------------------------------------------- 9. concise messages
def test_concise_messages_fit_and_full_output_explains():
    proc = run("check", "--no-cache", "--isolated", "--select", "ALL", "--output-format", "json", str(FIXTURES))
    found = json.loads(proc.stdout)
    assert len(found) > 40
    too_long = [(f["filename"], f["location"]["row"], f["code"], len(f["message"])) for f in found
                if len(f["message"]) > 120]
    assert too_long == []
    # torch's error text and the advice are in the detail (full output, JSON)
    ll101 = next(f for f in found if f["code"] == "LL101")
    assert "a leaf Variable that requires grad" in ll101["detail"] and "torch.no_grad" in ll101["detail"]
    full = run("check", "--no-cache", "--isolated", "--output-format", "full",
               str(FIXTURES / "ll1_bad_augassign.py"))
    assert "= note: " in full.stdout and "a leaf Variable that requires grad" in full.stdout


# ----------------------------------------------------------------------------- 10. imports
def test_cli_import_and_version_do_not_load_libcst():
    code = ("import sys, leaflint.cli\n"
            "assert not any(m == 'libcst' or m.startswith('libcst.') for m in sys.modules), 'libcst'\n"
            "assert 'leaflint.rules.base' not in sys.modules and 'leaflint.fix.context' not in sys.modules\n"
            "assert 'leaflint.model' not in sys.modules\n"
            "print('ok')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=HANG_GUARD)
    assert proc.stdout.strip() == "ok", proc.stderr


def test_a_check_without_findings_does_not_load_the_fix_builders_or_notebooks(tmp_path):
    """The fix builders, positions and the notebook reader are imported only where a rule
    reports (or a notebook is checked); a file that is parsed and clean needs none of them."""
    (tmp_path / "clean.py").write_text("import torch\n\nw = torch.zeros(3, requires_grad=True)\nloss = (w * 2).sum()\n")
    code = ("import sys\nfrom leaflint.cli import main\n"
            "sys.argv = ['leaflint', 'check', '--no-cache', '--isolated', 'clean.py']\n"
            "try:\n    main()\nexcept SystemExit as exc:\n    code = exc.code\n"
            "loaded = sorted(m for m in sys.modules if m.startswith(('leaflint.fix', 'leaflint.notebook', "
            "'leaflint.positions')))\n"
            "print('PARSED' if 'leaflint.model.semantic' in sys.modules else 'NOT-PARSED', code, loaded)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=HANG_GUARD)
    assert proc.stdout.strip().splitlines()[-1] == "PARSED 0 []", proc.stdout + proc.stderr


def test_warm_run_and_clean_file_do_not_load_libcst(tmp_path):
    (tmp_path / "bad.py").write_text(BAD)
    (tmp_path / "plain.py").write_text("def f(x):\n    return x + 1\n")
    assert run("check", ".", cwd=tmp_path).returncode == 1  # primes the cache
    code = ("import sys\nfrom leaflint.cli import main\nsys.argv = ['leaflint', 'check', '.']\n"
            "try:\n    main()\nexcept SystemExit as exc:\n    code = exc.code\n"
            "print('LIBCST' if any(m.startswith('libcst') for m in sys.modules) else 'NO-LIBCST', code)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=HANG_GUARD)
    assert proc.stdout.strip().splitlines()[-1] == "NO-LIBCST 1", proc.stdout + proc.stderr


def test_catalog_matches_the_rule_classes():
    from leaflint.rules import CATALOG, REGISTRY

    assert {code: (cls.name, cls.default) for code, cls in REGISTRY.items()} == CATALOG

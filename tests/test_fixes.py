"""Fixes: `--fix`, `--unsafe-fixes`, `--diff`, `--show-fixes`, verification and writing.

The golden twins: every bad fixture that leaflint can fix has a twin
``fixtures/fixed/<stem>_fixed.py``. A twin is the output of
``leaflint check --fix --unsafe-fixes --select ALL`` on a copy of the fixture, except that
- its module docstring is its own;
- the ``# expect:`` markers are gone, and a line the fixer leaves flagged (there is no sound
  automatic fix for it) carries ``# noqa: <code>`` instead, so that the twin lints clean;
- its ``if __name__ == "__main__":`` block is its own: it runs the fixed code under torch and
  asserts that it works (no error, the gradients flow, the update steps run).
``LEAFLINT_REGEN_TWINS=1 pytest tests/test_fixes.py -k twin_matches`` rewrites the code part of
every twin from the current fixtures, keeping each twin's docstring and main block.
A bad fixture that leaflint cannot fix has no twin and says why in its module docstring
(``No automatic fix: <why>.``); the fixer must then leave it byte for byte alone.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from leaflint import fix as fixes
from leaflint.fix import edits, wrap
from leaflint.cli import main
from leaflint.checking import check_paths
from leaflint.engine import lint_source
from leaflint.rules import select_rules
from hang_guard import HANG_GUARD
from forked_runs import describe, run_all, run_script

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
FIXED = FIXTURES / "fixed"
MAIN = 'if __name__ == "__main__":'
EXPECT = re.compile(r"\s*#\s*expect:\s*LL\d{3}(?:\s*,\s*LL\d{3})*\s*$")
NOQA = re.compile(r"\s*#\s*noqa:\s*LL\d{3}(?:\s*,\s*LL\d{3})*\s*$")

# A bad fixture without a twin says why in its own module docstring: "No automatic fix: <why>."
# (no finding in it has a sound automatic fix), so a new rule's fixtures need no entry here.
NO_FIX = re.compile(r"No automatic fix: (.+?)\.(?:\s|$)", re.S)


def no_fix_reason(path: Path) -> str | None:
    match = NO_FIX.search(ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or "")
    return " ".join(match.group(1).split()) if match else None


def bad_fixtures() -> list[Path]:
    return sorted(p for p in FIXTURES.glob("*_bad_*.py"))


def twin_of(path: Path) -> Path:
    return FIXED / f"{path.stem}_fixed.py"


NOT_FIXABLE = {p.name for p in bad_fixtures() if no_fix_reason(p)}


def fixable_fixtures() -> list[Path]:
    return [p for p in bad_fixtures() if p.name not in NOT_FIXABLE]


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, NO_COLOR="1", LEAFLINT_DEBUG_FIXES="1")
    return subprocess.run([sys.executable, "-m", "leaflint", "check", "--no-cache", "--isolated", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=HANG_GUARD)


# ------------------------------------------------------------------------------ golden twins
def split(text: str) -> tuple[str, str, str]:
    """(module docstring, code, main block) of a fixture or twin."""
    lines = text.splitlines(keepends=True)
    tree = ast.parse(text)
    doc_end = 0
    if tree.body and isinstance(tree.body[0], ast.Expr) and isinstance(getattr(tree.body[0], "value", None), ast.Constant) \
            and isinstance(tree.body[0].value.value, str):
        doc_end = tree.body[0].end_lineno
    main_at = next(i for i, line in enumerate(lines) if line.rstrip("\r\n") == MAIN)
    return "".join(lines[:doc_end]), "".join(lines[doc_end:main_at]), "".join(lines[main_at:])


def normalized(code: str) -> list[str]:
    return [NOQA.sub("", EXPECT.sub("", line)) for line in code.splitlines()]


@pytest.fixture(scope="module")
def fixed_copies(tmp_path_factory):
    """Every bad fixture, copied and fixed with `--fix --unsafe-fixes --select ALL` (one run)."""
    work = tmp_path_factory.mktemp("fixed")
    for path in bad_fixtures():
        shutil.copy(path, work / path.name)
    proc = cli("--fix", "--unsafe-fixes", "--select", "ALL", "--output-format", "json", ".", cwd=work)
    assert proc.returncode in (0, 1), proc.stderr
    remaining: dict[str, list[dict]] = {}
    for finding in json.loads(proc.stdout):
        remaining.setdefault(os.path.basename(finding["filename"]), []).append(finding)
    return work, remaining, proc


def _with_noqa(text: str, findings: list[dict]) -> str:
    """The fixed text with markers stripped and `# noqa: CODE` on the rows still flagged."""
    codes: dict[int, list[str]] = {}
    for finding in findings:
        codes.setdefault(finding["location"]["row"], []).append(finding["code"])
    out = []
    for row, line in enumerate(text.splitlines(keepends=True), 1):
        body = EXPECT.sub("", line.rstrip("\n"))
        if row in codes:
            body += f"  # noqa: {', '.join(sorted(set(codes[row])))}"
        out.append(body + "\n")
    return "".join(out)


def test_fixable_and_not_fixable_are_the_bad_fixtures():
    for path in fixable_fixtures():
        assert twin_of(path).exists(), (f"{path.name} has no twin {twin_of(path).name}: write its docstring and main "
                                        f"block, then fill its code (see the module docstring), or say in the "
                                        f"fixture's docstring why there is no fix (\"No automatic fix: <why>.\")")
    for name in NOT_FIXABLE:
        assert not twin_of(FIXTURES / name).exists(), f"{name} says it has no automatic fix, but has a twin"
    twins = {p.name for p in FIXED.glob("*_fixed.py")}
    assert twins == {twin_of(p).name for p in fixable_fixtures()}, "a twin without a bad fixture"


@pytest.mark.parametrize("path", fixable_fixtures(), ids=lambda p: p.name)
def test_twin_matches_fix_output(path, fixed_copies):
    work, remaining, _ = fixed_copies
    fixed_text = (work / path.name).read_text(encoding="utf-8")
    assert fixed_text != path.read_text(encoding="utf-8"), "no fix was applied"
    twin = twin_of(path)
    left = remaining.get(path.name, [])
    if os.environ.get("LEAFLINT_REGEN_TWINS"):
        doc, _, main_block = split(twin.read_text(encoding="utf-8"))
        _, code, _ = split(_with_noqa(fixed_text, left))
        twin.write_text(doc + code + main_block, encoding="utf-8")
    _, got, _ = split(fixed_text)
    _, want, _ = split(twin.read_text(encoding="utf-8"))
    assert normalized(got) == normalized(want), f"{twin.name} differs from the fix output; see the module docstring"
    # what the fixer leaves flagged is exactly what the twin marks `# noqa`
    fixed_lines = fixed_text.splitlines()
    left_lines = {(f["code"], EXPECT.sub("", fixed_lines[f["location"]["row"] - 1]).strip()) for f in left}
    noqa_lines = set()
    for line in want.splitlines():
        match = re.search(r"#\s*noqa:\s*(LL\d{3}(?:\s*,\s*LL\d{3})*)\s*$", line)
        if match:
            for code in match.group(1).split(","):
                noqa_lines.add((code.strip(), NOQA.sub("", line).strip()))
    assert left_lines == noqa_lines


@pytest.mark.parametrize("name", sorted(NOT_FIXABLE))
def test_not_fixable_fixtures_are_left_alone(name, fixed_copies):
    work, remaining, _ = fixed_copies
    assert (work / name).read_bytes() == (FIXTURES / name).read_bytes()
    assert remaining.get(name), "a bad fixture without findings"
    assert all(f["fix"] is None for f in remaining[name])


def test_twins_lint_clean_with_every_rule():
    result = check_paths([str(FIXED)], select=["ALL"], jobs=1, cache=False)
    assert not result.internal_errors
    assert [(f.filename, f.location.row, f.code) for f in result.findings] == []


def test_fix_reports_fixed_and_remaining(fixed_copies):
    _, remaining, proc = fixed_copies
    match = re.search(r"Found (\d+) findings in \d+ files checked \((\d+) fixed, (\d+) remaining\)\.", proc.stderr)
    assert match, proc.stderr
    total, fixed, left = map(int, match.groups())
    assert total == fixed + left and fixed > 20
    assert left == sum(len(v) for v in remaining.values())
    assert proc.returncode == 1  # findings remain (ruff semantics)


def test_second_fix_run_changes_nothing(fixed_copies, tmp_path):
    work, _, _ = fixed_copies
    again = tmp_path / "again"
    shutil.copytree(work, again)
    before = {p.name: p.read_bytes() for p in again.glob("*.py")}
    proc = cli("--fix", "--unsafe-fixes", "--select", "ALL", ".", cwd=again)
    assert proc.returncode == 1
    assert {p.name: p.read_bytes() for p in again.glob("*.py")} == before
    assert "(0 fixed," in proc.stderr
    diff = cli("--diff", "--unsafe-fixes", "--select", "ALL", ".", cwd=again)
    assert diff.returncode == 0 and diff.stdout == ""


# --------------------------------------------------------------------------- twins at run time
@pytest.fixture(scope="module")
def twin_runs():
    """Every twin as __main__, each in its own child forked from a runner that imported torch
    once (tests/forked_runs.py; test_forked_runs.py shows each child starts afresh)."""
    pytest.importorskip("torch")
    return run_all([twin_of(p) for p in fixable_fixtures()])


@pytest.mark.parametrize("path", fixable_fixtures(), ids=lambda p: p.name)
def test_twin_runs_with_gradients_flowing(path, twin_runs):
    result = twin_runs[str(twin_of(path))]
    assert result["exit"] == 0, describe(result)
    assert "observed:" not in result["stdout"]
    assert "fixed:" in result["stdout"]  # each twin states what its assertions showed


# ------------------------------------------------------------------------------ small files
SAFE_AND_UNSAFE = '''\
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.bias = nn.Parameter(torch.empty(3))
        self.bias.zero_()

    def forward(self, x):
        return x + self.bias


def step(model, lr):
    for p in model.parameters():
        p -= lr * p.grad
'''


def test_safe_fixes_only_without_unsafe_fixes(tmp_path):
    path = tmp_path / "m.py"
    path.write_text(SAFE_AND_UNSAFE)
    report = cli("m.py", cwd=tmp_path)
    assert report.returncode == 1
    lines = report.stdout.splitlines()
    assert "LL101 [*]" in lines[0] and "[*]" not in lines[1]
    assert "[*] 1 fixable with the `--fix` option (1 hidden fix can be enabled with the `--unsafe-fixes` option)." \
        in report.stderr
    assert "LL102 [*]" in cli("--unsafe-fixes", "m.py", cwd=tmp_path).stdout

    proc = cli("--fix", "m.py", cwd=tmp_path)
    text = path.read_text()
    assert "nn.init.zeros_(self.bias)" in text and "no_grad" not in text
    assert proc.returncode == 1  # the unsafe one remains
    assert "(1 fixed, 1 remaining)" in proc.stderr
    assert "LL102" in proc.stdout

    proc = cli("--fix", "--unsafe-fixes", "m.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "(1 fixed, 0 remaining)" in proc.stderr
    # the loop's body is only the write: the whole loop goes under no_grad
    assert path.read_text() == SAFE_AND_UNSAFE.replace("self.bias.zero_()", "nn.init.zeros_(self.bias)").replace(
        "    for p in model.parameters():\n        p -= lr * p.grad\n",
        "    with torch.no_grad():\n        for p in model.parameters():\n            p -= lr * p.grad\n")


def test_json_carries_the_fix(tmp_path):
    (tmp_path / "m.py").write_text(SAFE_AND_UNSAFE)
    proc = cli("--output-format", "json", "m.py", cwd=tmp_path)
    data = json.loads(proc.stdout)
    assert [f["fix"]["applicability"] for f in data] == ["safe", "unsafe"]
    edit = data[0]["fix"]["edits"][0]
    assert edit == {"content": "nn.init.zeros_(self.bias)", "location": {"row": 9, "column": 9},
                    "end_location": {"row": 9, "column": 26}}
    assert "nn.init.zeros_" in data[0]["fix"]["message"]


def test_diff_writes_nothing_and_exits_1(tmp_path):
    path = tmp_path / "m.py"
    path.write_text(SAFE_AND_UNSAFE)
    before = path.stat().st_mtime_ns
    proc = cli("--diff", "--unsafe-fixes", "m.py", cwd=tmp_path)
    assert proc.returncode == 1
    assert path.read_text() == SAFE_AND_UNSAFE and path.stat().st_mtime_ns == before
    assert proc.stdout.startswith("--- a/m.py\n+++ b/m.py\n")
    assert "-        self.bias.zero_()\n+        nn.init.zeros_(self.bias)\n" in proc.stdout
    assert "+    with torch.no_grad():\n+        for p in model.parameters():\n" in proc.stdout
    assert "Would fix 2 findings." in proc.stderr
    safe_only = cli("--diff", "m.py", cwd=tmp_path)
    assert safe_only.returncode == 1 and "no_grad" not in safe_only.stdout
    assert not list(tmp_path.glob(".*leaflint-tmp"))


def test_diff_without_changes_exits_0(tmp_path):
    (tmp_path / "m.py").write_text("import torch\nx = torch.zeros(3)\nx.add_(1)\n")
    proc = cli("--diff", "m.py", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout == ""


def test_show_fixes(tmp_path):
    (tmp_path / "m.py").write_text(SAFE_AND_UNSAFE)
    proc = cli("--fix", "--unsafe-fixes", "--show-fixes", "m.py", cwd=tmp_path)
    assert "Fixed 2 findings:\n- m.py:\n    1 \u00d7 LL101 (inplace-method-on-leaf)\n" \
           "    1 \u00d7 LL102 (augmented-assignment-on-leaf)\n" in proc.stderr


def test_mode_bits_are_kept(tmp_path):
    path = tmp_path / "m.py"
    path.write_text(SAFE_AND_UNSAFE)
    os.chmod(path, 0o751)
    proc = cli("--fix", "m.py", cwd=tmp_path)
    assert "nn.init.zeros_" in path.read_text(), proc.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o751


def test_symlink_target_is_written(tmp_path):
    real = tmp_path / "real.py"
    real.write_text(SAFE_AND_UNSAFE)
    (tmp_path / "link.py").symlink_to(real)
    cli("--fix", "link.py", cwd=tmp_path)
    assert (tmp_path / "link.py").is_symlink()
    assert "nn.init.zeros_" in real.read_text()


def test_crlf_line_endings_are_kept(tmp_path):
    path = tmp_path / "m.py"
    path.write_bytes(SAFE_AND_UNSAFE.replace("\n", "\r\n").encode())
    proc = cli("--fix", "--unsafe-fixes", "m.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = path.read_bytes()
    assert b"with torch.no_grad():\r\n        for p in model.parameters():\r\n            p -= lr * p.grad\r\n" in data
    assert data.count(b"\n") == data.count(b"\r\n")


def test_latin1_file_keeps_its_encoding(tmp_path):
    source = "# -*- coding: latin-1 -*-\n# d\u00e9j\u00e0 vu: caf\u00e9\n" + SAFE_AND_UNSAFE
    path = tmp_path / "m.py"
    path.write_bytes(source.encode("latin-1"))
    proc = cli("--fix", "--unsafe-fixes", "m.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = path.read_bytes()
    assert b"# d\xe9j\xe0 vu: caf\xe9\n" in data  # still latin-1, not UTF-8
    assert "nn.init.zeros_(self.bias)" in data.decode("latin-1")


def test_bom_is_kept(tmp_path):
    path = tmp_path / "m.py"
    path.write_bytes(b"\xef\xbb\xbf" + SAFE_AND_UNSAFE.encode())
    cli("--fix", "m.py", cwd=tmp_path)
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbfimport torch") and b"nn.init.zeros_" in data


def test_import_torch_is_added_when_missing(tmp_path):
    path = tmp_path / "m.py"
    path.write_text('"""Doc."""\nfrom torch import nn\n\nlin = nn.Linear(2, 2)\nlin.weight[0] = 1.0\nlin.bias[0] = 0.0\n')
    proc = cli("--fix", "m.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # the second statement joins the block made for the first (a later round)
    assert path.read_text() == ('"""Doc."""\nfrom torch import nn\nimport torch\n\nlin = nn.Linear(2, 2)\n'
                                'with torch.no_grad():\n    lin.weight[0] = 1.0\n    lin.bias[0] = 0.0\n')


def test_wrap_keeps_comments_and_continuation_lines(tmp_path):
    path = tmp_path / "m.py"
    path.write_text(textwrap.dedent('''\
        import torch

        w = torch.zeros(3, requires_grad=True)
        # set the first entries
        w[:2] = torch.tensor(  # a comment inside
            [1.0, 2.0])  # trailing
        torch.add(w, 1, out=w); y = 1
    '''))
    proc = cli("--fix", "m.py", cwd=tmp_path)
    assert proc.returncode == 1  # the `;` line has no fix
    assert path.read_text() == textwrap.dedent('''\
        import torch

        w = torch.zeros(3, requires_grad=True)
        # set the first entries
        with torch.no_grad():
            w[:2] = torch.tensor(  # a comment inside
                [1.0, 2.0])  # trailing
        torch.add(w, 1, out=w); y = 1
    ''')


def test_multiline_string_rows_are_not_reindented():
    source = 'import torch\nw = torch.zeros(3, requires_grad=True)\nw.add_(len("""a\nb"""))\n'
    rules = select_rules(["ALL"])
    result = fixes.fix_text(source, lambda t: lint_source(t, "m.py", rules), unsafe=False)
    assert result.text == 'import torch\nw = torch.zeros(3, requires_grad=True)\nwith torch.no_grad():\n' \
                          '    w.add_(len("""a\nb"""))\n'


def test_nothing_fixable_inside_a_lambda():
    source = "import torch\nw = torch.zeros(3, requires_grad=True)\nf = (lambda: w.add_(1))()\n"
    findings = lint_source(source, "m.py", select_rules(["ALL"]))
    assert findings and all(f.fix is None for f in findings)


def test_failed_verification_leaves_the_file_untouched(tmp_path, monkeypatch):
    monkeypatch.setattr(wrap, "wrap_edit", lambda context, stmt, torch, subs=(): wrap.Edit(
        context.start(stmt), context.end(stmt), "with torch.no_grad(:\n    pass"))
    path = tmp_path / "m.py"
    path.write_text(SAFE_AND_UNSAFE)
    mtime = path.stat().st_mtime_ns
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["check", "--no-cache", "--isolated", "--fix", "--unsafe-fixes",
                                                       "--select", "LL102", "m.py"])
    assert result.exit_code == 1
    assert "leaflint: fix for LL102 at m.py:17:9 not applied: the fixed code does not parse" in result.stderr
    assert path.read_text() == SAFE_AND_UNSAFE and path.stat().st_mtime_ns == mtime


def test_a_fix_that_would_add_a_finding_is_dropped(tmp_path):
    # dropping `.data` from the read (LL203's fix) makes the in-place write below hit the
    # parameter itself (a new LL101): verification refuses it
    path = tmp_path / "m.py"
    source = textwrap.dedent('''\
        import torch
        from torch import nn


        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.w = nn.Parameter(torch.ones(3))

            def forward(self, x):
                v = self.w.data
                v.mul_(0.5)
                return x * v
    ''')
    path.write_text(source)
    proc = cli("--fix", "--unsafe-fixes", "--select", "ALL", "m.py", cwd=tmp_path)
    assert path.read_text() == source
    assert "fix for LL203 at m.py:11:13 not applied: the fixed code would have a new finding, LL101" in proc.stderr


def test_overlapping_fixes_are_applied_over_rounds():
    source = textwrap.dedent('''\
        from torch import nn

        lin = nn.Linear(2, 2)
        lin.weight[0] = 1.0
        lin.bias[0] = 0.0
        lin.weight.zero_()
    ''')
    rules = select_rules(["ALL"])
    result = fixes.fix_text(source, lambda t: lint_source(t, "m.py", rules), unsafe=True)
    assert len(result.applied) == 3 and result.remaining == [] and not result.rejected
    assert result.text.count("import torch\n") == 1
    assert "nn.init.zeros_(lin.weight)" in result.text


def test_data_assignment_fixed_only_when_computed_from_the_target():
    source = textwrap.dedent('''\
        import torch
        from torch import nn


        def f(p: nn.Parameter, cache, kernel):
            p.data = cache[p]  # offloading: another device
            p.data = kernel  # another tensor: maybe another shape
            p.data = p.data.half()  # a cast
            p.data = p.data.sum()  # another shape
            p.data = p @ p
            p.data = p - 0.1 * p.grad
            p.data = torch.clamp(p.data, -1, 1)
    ''')
    rules = select_rules(["LL202"])
    fixed = [f.location.row for f in lint_source(source, "m.py", rules) if f.fix is not None]
    assert fixed == [11, 12]
    result = fixes.fix_text(source, lambda t: lint_source(t, "m.py", rules), unsafe=True)
    assert result.text.endswith("    with torch.no_grad():\n        p.copy_(p - 0.1 * p.grad)\n"
                                "        p.copy_(torch.clamp(p.data, -1, 1))\n")


def test_statement_joins_a_no_grad_block_right_above():
    source = "import torch\nw = torch.zeros(3, requires_grad=True)\nwith torch.no_grad():\n    w.add_(1)\nw.mul_(2)\n"
    rules = select_rules(["ALL"])
    result = fixes.fix_text(source, lambda t: lint_source(t, "m.py", rules), unsafe=False)
    assert result.text == "import torch\nw = torch.zeros(3, requires_grad=True)\nwith torch.no_grad():\n" \
                          "    w.add_(1)\n    w.mul_(2)\n"


def test_stdin_is_refused():
    proc = subprocess.run([sys.executable, "-m", "leaflint", "check", "--fix", "-"], input="x = 1\n",
                          capture_output=True, text=True, timeout=HANG_GUARD)
    assert proc.returncode == 2 and "stdin" in proc.stderr


# ---------------------------------------------------------------------------------- LL3 / conv
CONV = textwrap.dedent('''\
    import torch
    import torch.nn as nn


    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, stride=2, padding=1)
            self.scale = nn.Parameter(torch.ones(4, 1, 1, 1))

        def forward(self, x):
            self.conv.weight = nn.Parameter(self.conv.weight * self.scale)
            return self.conv(x)
''')


def test_seed_pattern_conv_becomes_functional(tmp_path):
    path = tmp_path / "m.py"
    path.write_text(CONV)
    proc = cli("--fix", "--unsafe-fixes", "m.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = path.read_text()
    assert text == CONV.replace("import torch.nn as nn\n", "import torch.nn as nn\nimport torch.nn.functional as F\n").replace(
        "        self.conv.weight = nn.Parameter(self.conv.weight * self.scale)\n        return self.conv(x)\n",
        "        return F.conv2d(x, self.conv.weight * self.scale, self.conv.bias, self.conv.stride, "
        "self.conv.padding, self.conv.dilation, self.conv.groups)\n")
    pytest.importorskip("torch")
    check = tmp_path / "run.py"
    check.write_text(text + textwrap.dedent('''
        torch.manual_seed(0)
        m = Scaled()
        x = torch.randn(2, 3, 8, 8)
        y = m(x)
        ref = torch.nn.functional.conv2d(x, m.conv.weight * m.scale, m.conv.bias, 2, 1)
        assert torch.allclose(y, ref)
        y.pow(2).mean().backward()
        assert m.scale.grad is not None and m.conv.weight.grad is not None
        print("ok")
    '''))
    proc = run_script(check)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr


@pytest.mark.parametrize("forward", [
    # the layer's weight is read after the call: its replacement was visible there
    "self.lin.weight = nn.Parameter(self.lin.weight * self.s)\n        return self.lin(x) + self.lin.weight.sum()",
    # an expression evaluated in a loop would be evaluated once per iteration
    "self.lin.weight = nn.Parameter(self.lin.weight * self.s)\n        for _ in range(2):\n            x = self.lin(x)\n        return x",
    # a padding mode other than zeros is not what F.conv2d does
], ids=["weight-read-after", "call-in-loop"])
def test_seed_pattern_without_a_sound_fix(forward):
    source = textwrap.dedent('''\
        import torch
        from torch import nn


        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.lin = nn.Linear(2, 2)
                self.s = nn.Parameter(torch.ones(1))

            def forward(self, x):
                FORWARD
    ''').replace("FORWARD", forward)
    findings = [f for f in lint_source(source, "m.py", select_rules(["ALL"])) if f.code == "LL301"]
    assert findings and findings[0].fix is None


def test_conv_with_padding_mode_gets_no_fix():
    source = CONV.replace("padding=1)", "padding=1, padding_mode='reflect')")
    findings = lint_source(source, "m.py", select_rules(["ALL"]))
    assert [f.code for f in findings] == ["LL301"] and findings[0].fix is None


# ---------------------------------------------------------------------------------- notebooks
def _notebook(cells: list[tuple[str, str]]) -> dict:
    return {
        "cells": [{"cell_type": kind, "metadata": {}, "source": source.splitlines(keepends=True),
                   **({"execution_count": None, "outputs": []} if kind == "code" else {})}
                  for kind, source in cells],
        "metadata": {"kernelspec": {"language": "python", "name": "python3"}},
        "nbformat": 4, "nbformat_minor": 5,
    }


def test_notebook_cells_are_rewritten(tmp_path):
    nb = _notebook([
        ("markdown", "# A model\n"),
        ("code", "import torch\nfrom torch import nn"),
        ("code", "%time x = 1\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                 "        self.b = nn.Parameter(torch.empty(3))\n        self.b.zero_()\n"),
        ("code", "w = torch.zeros(3, requires_grad=True)\nw.add_(1)  # caf\u00e9"),
    ])
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    diff = cli("--diff", "nb.ipynb", cwd=tmp_path)
    assert diff.returncode == 1
    assert "--- a/nb.ipynb:cell 3\n" in diff.stdout and "+        nn.init.zeros_(self.b)\n" in diff.stdout
    proc = cli("--fix", "nb.ipynb", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = path.read_text(encoding="utf-8")
    fixed = json.loads(text)  # still valid JSON
    assert text.startswith('{\n "cells": [\n') and text.endswith("}\n") and "caf\u00e9" in text
    sources = ["".join(c["source"]) for c in fixed["cells"]]
    assert sources[0] == "# A model\n" and sources[1] == "import torch\nfrom torch import nn"
    assert sources[2] == nb_source(nb, 2).replace("self.b.zero_()", "nn.init.zeros_(self.b)")
    assert sources[2].startswith("%time x = 1\n")  # the magic is kept
    assert sources[3] == "w = torch.zeros(3, requires_grad=True)\nwith torch.no_grad():\n    w.add_(1)  # caf\u00e9"
    assert fixed["cells"][1]["source"] == nb["cells"][1]["source"]
    again = cli("--fix", "nb.ipynb", cwd=tmp_path)
    assert again.returncode == 0 and path.read_text(encoding="utf-8") == text


def nb_source(nb: dict, index: int) -> str:
    return "".join(nb["cells"][index]["source"])


def test_notebook_import_goes_into_the_import_cell(tmp_path):
    nb = _notebook([("code", "from torch import nn\n"), ("code", "lin = nn.Linear(2, 2)\nlin.bias[0] = 0.0\n")])
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(nb, indent=1) + "\n")
    proc = cli("--fix", "nb.ipynb", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    fixed = json.loads(path.read_text())
    assert "".join(fixed["cells"][0]["source"]) == "from torch import nn\nimport torch\n"
    assert "".join(fixed["cells"][1]["source"]) == "lin = nn.Linear(2, 2)\nwith torch.no_grad():\n    lin.bias[0] = 0.0\n"


# ------------------------------------------------------------------------------- apply / verify
def test_apply_edits_and_conflicts():
    from leaflint.findings import Edit, Position

    text = "abc\ndef\n"
    assert fixes.apply_edits(text, [Edit(Position(1, 2), Position(2, 2), "X"),
                                    Edit(Position(2, 4), Position(2, 4), "!")]) == "aXef!\n"
    a = [(0, 3, "x")]
    assert edits.conflict(a, [(2, 5, "y")]) and not edits.conflict(a, [(3, 5, "y")])
    assert edits.conflict([(3, 3, "a")], [(3, 3, "b")]) and not edits.conflict([(3, 3, "a")], [(3, 3, "a")])


def test_write_atomic_replaces_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "f.py"
    path.write_bytes(b"old")
    os.chmod(path, 0o640)
    fixes.write_atomic(str(path), b"new")
    assert path.read_bytes() == b"new" and stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["f.py"]

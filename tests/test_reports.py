"""The real bug reports (reports/<family>/<slug>_{bad,fixed}.py) still reproduce under torch.

This guards the reconstructions, not leaflint's recall (bench/reports.py measures that): every bad
program must show its bug (one ``bug-shown:`` line, exit 0) and every fixed twin must run clean with
gradients flowing (one ``clean:`` line, no ``bug-shown:``, exit 0). The programs run through
reports/_runner.py, which imports torch once and forks one child per program.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from forked_runs import describe, run_all, run_batch

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]
REPORTS = ROOT / "reports"
FAMILIES = ("ll1", "ll2", "ll3", "ll4")
# LL4 (a tensor saved for backward modified in place) came with the held-out batch holdout-5: fewer reports so far.
MIN_PER_FAMILY = {"ll1": 8, "ll2": 8, "ll3": 8, "ll4": 3}
BAD = sorted(p for fam in FAMILIES for p in (REPORTS / fam).glob("*_bad.py"))
MARKER = re.compile(r"#\s*(expect|report):\s*LL\d{1,3}")
SOURCE = re.compile(r"^Source: (https?://\S+)$", re.MULTILINE)
BATCH = re.compile(r"^Batch: (\S+)$", re.MULTILINE)


def _ids(paths):
    return [f"{p.parent.name}/{p.name[: -len('_bad.py')]}" for p in paths]


@pytest.fixture(scope="module")
def runs() -> dict[str, dict]:
    """Run every bad and fixed program, in two batches side by side (2 cores)."""
    return run_all([p for bad in BAD for p in (bad, bad.with_name(bad.name.replace("_bad.py", "_fixed.py")))])


def test_enough_reports_in_every_family():
    assert len(BAD) >= 45
    for fam in FAMILIES:
        assert len(list((REPORTS / fam).glob("*_bad.py"))) >= MIN_PER_FAMILY[fam], fam


def test_held_out_batch_is_large_enough():
    """holdout-5 is measured apart from the other reports (bench/reports.py); it needs at least 12 to mean anything."""
    held_out = [p for p in BAD if BATCH.search(p.read_text(encoding="utf-8"))]
    assert len(held_out) >= 12
    assert {BATCH.search(p.read_text(encoding="utf-8")).group(1) for p in held_out} == {"holdout-5"}


@pytest.mark.parametrize("bad", BAD, ids=_ids(BAD))
def test_report_is_well_formed(bad: Path):
    fixed = bad.with_name(bad.name.replace("_bad.py", "_fixed.py"))
    assert fixed.exists(), f"{bad.name} has no fixed twin"
    bad_text, fixed_text = bad.read_text(encoding="utf-8"), fixed.read_text(encoding="utf-8")
    assert MARKER.search(bad_text), f"{bad.name}: no `# expect:` / `# report:` marker on the buggy line"
    assert not MARKER.search(fixed_text), f"{fixed.name}: a fixed program carries a marker"
    assert SOURCE.search(bad_text) and SOURCE.search(fixed_text), "both twins name their source URL"
    assert "\nFix: " in fixed_text, f"{fixed.name}: no `Fix:` line in the docstring"
    batch_bad, batch_fixed = BATCH.search(bad_text), BATCH.search(fixed_text)
    assert (batch_bad and batch_bad.group(1)) == (batch_fixed and batch_fixed.group(1)), "both twins name the same batch"


@pytest.mark.parametrize("bad", BAD, ids=_ids(BAD))
def test_bad_program_shows_the_bug(runs, bad: Path):
    result = runs[str(bad)]
    shown = [ln for ln in result["stdout"].splitlines() if ln.startswith("bug-shown:")]
    assert result["exit"] == 0 and len(shown) == 1, describe(result)


@pytest.mark.parametrize("bad", BAD, ids=_ids(BAD))
def test_fixed_program_runs_clean(runs, bad: Path):
    result = runs[str(bad.with_name(bad.name.replace("_bad.py", "_fixed.py")))]
    lines = result["stdout"].splitlines()
    assert result["exit"] == 0, describe(result)
    assert not any(ln.startswith("bug-shown:") for ln in lines), describe(result)
    assert sum(ln.startswith("clean:") for ln in lines) == 1, describe(result)


def test_runner_reports_a_program_that_does_not_reproduce(tmp_path):
    """A reconstruction that stops showing its bug must fail, not pass silently."""
    family = tmp_path / "ll1"
    family.mkdir()
    (tmp_path / "_check.py").write_text((REPORTS / "_check.py").read_text(encoding="utf-8"), encoding="utf-8")
    stale = family / "stale_bad.py"
    stale.write_text(
        "import os, sys\nimport torch\n"
        "sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))\n"
        "from _check import bug_raises\n"
        "w = torch.zeros(3, requires_grad=True)\n"
        "def step():\n    with torch.no_grad():\n        w.add_(1)\n"
        "bug_raises('leaf Variable', step)\n",
        encoding="utf-8",
    )
    result = run_batch([stale])[str(stale)]
    assert result["exit"] != 0 and "did not raise" in result["stderr"]
    assert "bug-shown:" not in result["stdout"]

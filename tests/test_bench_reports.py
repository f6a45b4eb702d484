"""The scoring of bench/reports.py: markers, found / exact / false alarm, the split, the doc rewrite."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("bench_reports", ROOT / "bench" / "reports.py")
bench = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = bench  # dataclasses look their module up
_spec.loader.exec_module(bench)

BAD = '''"""A helper writes into a parameter.

Source: https://example.org/issue/1
Shape: helper writes into its argument
"""
import torch


def init(w):
    w[0] = 1  # expect: LL103


def other(m):
    m.weight = m.weight * 2  # report: LL3
'''
FIXED = '''"""A helper writes into a parameter, under no_grad.

Source: https://example.org/issue/1
Fix: no_grad
"""
'''


def _finding(code, row):
    return {"code": code, "location": {"row": row, "column": 1}}


@pytest.fixture
def report(tmp_path):
    fam = tmp_path / "ll1"
    fam.mkdir()
    (fam / "helper_write_bad.py").write_text(BAD, encoding="utf-8")
    (fam / "helper_write_fixed.py").write_text(FIXED, encoding="utf-8")
    (reports,) = bench.discover(tmp_path)
    return reports


def test_discover_reads_markers_and_docstring(report):
    assert report.name == "ll1/helper_write"
    assert report.marks == {10: ("expect", ["LL103"]), 14: ("report", ["LL3"])}
    assert report.source == "https://example.org/issue/1"
    assert report.shape == "helper writes into its argument"
    assert report.fix == "no_grad"
    assert bench.problems([report]) == []


def test_found_needs_every_marked_line(report):
    report.bad_findings = [_finding("LL103", 10)]
    assert not report.found() and not report.exact()
    report.bad_findings.append(_finding("LL303", 14))
    assert report.found() and report.exact()


def test_found_counts_the_family_exact_counts_the_code(report):
    report.bad_findings = [_finding("LL101", 10), _finding("LL301", 14)]
    assert report.found() and not report.exact()


def test_findings_elsewhere_do_not_count(report):
    report.bad_findings = [_finding("LL103", 11), _finding("LL303", 13)]
    assert not report.found()


def test_false_alarm_is_any_finding_in_the_fixed_twin(report):
    assert not report.false_alarm()
    report.fixed_findings = [_finding("LL201", 3)]
    assert report.false_alarm()


def test_problems_name_a_missing_marker_or_twin(tmp_path):
    fam = tmp_path / "ll2"
    fam.mkdir()
    (fam / "nomark_bad.py").write_text('"""x.\n\nSource: https://example.org/2\n"""\n', encoding="utf-8")
    (report,) = bench.discover(tmp_path)
    issues = bench.problems([report])
    assert any("no fixed twin" in i for i in issues) and any("marker" in i for i in issues)


HELD_OUT = BAD.replace("Shape: helper writes into its argument\n", "Shape: helper writes into its argument\nBatch: holdout-9\n")


@pytest.fixture
def mixed(tmp_path):
    """Two reports without a batch line and one of a held-out batch."""
    fixed_held = FIXED.replace("Fix: no_grad\n", "Fix: no_grad\nBatch: holdout-9\n")
    for fam, slug, bad, fixed in (("ll1", "base_a", BAD, FIXED), ("ll3", "base_b", BAD, FIXED),
                                  ("ll4", "held", HELD_OUT, fixed_held)):
        (tmp_path / fam).mkdir(exist_ok=True)
        (tmp_path / fam / f"{slug}_bad.py").write_text(bad, encoding="utf-8")
        (tmp_path / fam / f"{slug}_fixed.py").write_text(fixed, encoding="utf-8")
    return bench.discover(tmp_path)


def test_batch_line_puts_a_report_in_its_batch_not_in_a_half(mixed):
    held = [r for r in mixed if r.batch]
    assert [r.name for r in held] == ["ll4/held"] and held[0].split == "holdout-9"
    assert held[0].shape == "helper writes into its argument"  # the batch line is a field of its own
    assert {r.split for r in mixed if not r.batch} <= {"tuning", "validation"}
    assert bench.batches(mixed) == ["holdout-9"] and bench.problems(mixed) == []


def test_batch_is_measured_apart(mixed):
    for r in mixed:
        r.bad_findings = [_finding("LL103", 10), _finding("LL303", 14)] if r.family == "ll1" else []
    held = next(r for r in mixed if r.batch)
    held.bad_findings = [_finding("LL103", 11)]  # away from the marked lines
    held.fixed_findings = [_finding("LL401", 3)]
    body = bench.render(mixed, Path("/tree"), with_run=False, with_probe=False)
    assert "| all | 2 | 1/2 (50%) | 1/2 (50%) | 0/2 (0%) |" in body  # the batch does not change these figures
    assert "| holdout-9 | 1 | 0/1 (0%) | 0/1 (0%) | 1/1 (100%) |" in body
    assert "| holdout-9, LL4 | 1 |" in body and "holdout-9, LL1" not in body
    assert "holdout-9: 1 reports; static recall 0/1 (0%), exact-code recall 0/1 (0%), false alarms on fixed 1/1 (100%)" in body


def test_a_fixed_twin_outside_the_batch_is_a_problem(tmp_path):
    (tmp_path / "ll2").mkdir()
    (tmp_path / "ll2" / "x_bad.py").write_text(HELD_OUT, encoding="utf-8")
    (tmp_path / "ll2" / "x_fixed.py").write_text(FIXED, encoding="utf-8")
    assert any("Batch:" in p for p in bench.problems(bench.discover(tmp_path)))


def test_split_depends_on_the_name_only():
    assert bench.split_of("ll1", "a") == bench.split_of("ll1", "a")
    halves = {bench.split_of("ll1", f"slug{i}") for i in range(20)}
    assert halves == {"tuning", "validation"}


def test_verdict_of_a_run():
    assert bench.verdict("bad", 0, "bug-shown: x\n", "") == ""
    assert "bug-shown" in bench.verdict("bad", 0, "clean: x\n", "")
    assert bench.verdict("fixed", 0, "clean: y\n", "") == ""
    assert bench.verdict("fixed", 0, "clean: y\nbug-shown: x\n", "")
    assert bench.verdict("bad", 1, "", "Traceback\nAssertionError: no").startswith("exit 1")


def test_write_doc_keeps_the_prose(tmp_path):
    doc = tmp_path / "r.md"
    doc.write_text(f"# T\n\nbefore\n\n{bench.DOC_BEGIN}\nold\n{bench.DOC_END}\n\nafter\n", encoding="utf-8")
    bench.write_doc(doc, "new table\n")
    text = doc.read_text(encoding="utf-8")
    assert "before" in text and "after" in text and "new table" in text and "old" not in text


def test_write_doc_refuses_a_file_without_markers(tmp_path):
    doc = tmp_path / "r.md"
    doc.write_text("# hand-written only\n", encoding="utf-8")
    with pytest.raises(SystemExit):
        bench.write_doc(doc, "table\n")
    assert doc.read_text(encoding="utf-8") == "# hand-written only\n"

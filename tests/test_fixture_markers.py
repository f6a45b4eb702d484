"""`leaflint check fixtures/` reports exactly the `# expect:` markers, both ways."""

from __future__ import annotations

import pytest

from leaflint.checking import check_paths
from markers import FIXTURES, expected_markers, fixture_files


@pytest.fixture(scope="module")
def findings_all():
    result = check_paths([str(FIXTURES)], select=["ALL"], jobs=1)
    assert not result.internal_errors
    found: dict[str, set[tuple[int, str]]] = {}
    for finding in result.findings:
        found.setdefault(finding.filename.rsplit("/", 1)[-1], set()).add((finding.location.row, finding.code))
    return found


@pytest.fixture(scope="module")
def findings_default():
    result = check_paths([str(FIXTURES)], jobs=1)
    return {(f.filename.rsplit("/", 1)[-1], f.location.row, f.code) for f in result.findings}


@pytest.mark.parametrize("path", fixture_files(), ids=lambda p: p.name)
def test_markers_exact(path, findings_all):
    expected = expected_markers(path)
    got = findings_all.get(path.name, set())
    assert sorted(got - expected) == [], "findings without a marker"
    assert sorted(expected - got) == [], "markers without a finding"


def test_good_fixtures_clean_under_default_rules(findings_default):
    dirty = sorted(f for f in findings_default if "_good_" in f[0])
    assert dirty == []


def test_every_rule_has_bad_and_good_fixtures():
    from leaflint.rules import REGISTRY

    marked = {code for p in fixture_files() if "_bad_" in p.name for _, code in expected_markers(p)}
    assert set(REGISTRY) <= marked
    families = {p.name.split("_", 1)[0] for p in fixture_files() if "_good_" in p.name}
    assert {"ll1", "ll2", "ll3", "trap"} <= families

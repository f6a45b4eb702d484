"""Run every fixture as __main__ with real torch and check what it observed against its markers.

A bad fixture must print exactly one ``observed: <line>: ...`` per ``# expect:`` marker line (and none
elsewhere); a good fixture must run clean and print no observation at all. Good fixtures may carry
markers only for the opt-in LL202 (the ``.data`` idioms that are fine at run time).
"""

from __future__ import annotations

import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from forked_runs import describe, run_all, run_script

from leaflint.rules.catalog import CATALOG

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
FILES = sorted(p for p in FIXTURES.glob("*.py") if p.name != "_expect.py")
# The rule codes and their families, from the generated catalog (a new rule needs no entry here).
CODES = set(CATALOG)
NAME = re.compile(rf"^(ll[{''.join(sorted({code[2] for code in CODES}))}]_(bad|good)|trap_good)_[a-z0-9_]+\.py$")
MARKER = re.compile(r"#\s*expect:\s*(LL\d{3}(?:\s*,\s*LL\d{3})*)")
OBSERVED = re.compile(r"^observed: (\d+):", re.MULTILINE)


def markers(path: Path) -> dict[int, list[str]]:
    found = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        m = MARKER.search(line)
        if m:
            found[lineno] = [c.strip() for c in m.group(1).split(",")]
    return found


SCRIPT_CHECKED = ["ll1_bad_inplace_method.py", "ll2_bad_data_read_forward.py", "ll3_good_module_create.py"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Every fixture, each in its own child forked from a runner that imported torch once
    (tests/forked_runs.py), from a directory other than the repository; a few also as
    ``python FILE`` in a fresh interpreter from the repository root, started meanwhile, to show
    that the two ways print the same."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        scripts = {name: pool.submit(run_script, FIXTURES / name) for name in SCRIPT_CHECKED}
        forked = run_all(FILES, cwd=tmp_path_factory.mktemp("elsewhere"))
        yield {"forked": forked, "script": {name: future.result() for name, future in scripts.items()}}


def _describe(proc: subprocess.CompletedProcess) -> str:
    return f"exit {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr[-4000:]}"


def test_fixtures_exist():
    names = {p.name for p in FILES}
    assert len(FILES) >= 20
    for prefix in ("ll1_bad_", "ll1_good_", "ll2_bad_", "ll2_good_", "ll3_bad_", "ll3_good_", "trap_good_"):
        assert any(n.startswith(prefix) for n in names), prefix


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_fixture_markers_well_formed(path):
    assert NAME.match(path.name), f"bad fixture name {path.name}"
    found = markers(path)
    for lineno, codes in found.items():
        assert set(codes) <= CODES, f"{path.name}:{lineno}: unknown code in {codes}"
    if "_good_" in path.name:
        # the only markers a good fixture may carry are for the opt-in LL202
        assert all(codes == ["LL202"] for codes in found.values()), found
    else:
        assert found, f"{path.name} is a bad fixture without any '# expect:' marker"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_fixture_runs_and_observes_markers(path, runs):
    result = runs["forked"][str(path)]
    assert result["exit"] == 0, describe(result)
    observed = [int(n) for n in OBSERVED.findall(result["stdout"])]
    if "_good_" in path.name:
        assert observed == [], describe(result)
        return
    duplicated = sorted({n for n in observed if observed.count(n) > 1})
    assert not duplicated, f"lines observed more than once: {duplicated}\n{describe(result)}"
    expected = set(markers(path))
    assert set(observed) == expected, (
        f"marked but not observed: {sorted(expected - set(observed))}; "
        f"observed but not marked: {sorted(set(observed) - expected)}\n{describe(result)}"
    )


@pytest.mark.parametrize("name", SCRIPT_CHECKED)
def test_fixture_as_a_script_prints_what_its_forked_run_printed(name, runs):
    """``python FILE`` in a fresh interpreter, from the repository root, observes the same lines
    as the forked run (which, like the probe, runs the file through runpy.run_path)."""
    proc = runs["script"][name]
    assert proc.returncode == 0, _describe(proc)
    forked = runs["forked"][str(FIXTURES / name)]
    assert OBSERVED.findall(proc.stdout) == OBSERVED.findall(forked["stdout"]), _describe(proc) + describe(forked)
    assert {int(n) for n in OBSERVED.findall(proc.stdout)} == set(markers(FIXTURES / name)), _describe(proc)

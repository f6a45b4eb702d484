"""Run every fixture as a script with real torch and check what it observed against its markers.

A bad fixture must print exactly one ``observed: <line>: ...`` per ``# expect:`` marker line (and none
elsewhere); a good fixture must run clean and print no observation at all. Good fixtures may carry
markers only for the opt-in LL202 (the ``.data`` idioms that are fine at run time).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hang_guard import HANG_GUARD

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
FILES = sorted(p for p in FIXTURES.glob("*.py") if p.name != "_expect.py")
NAME = re.compile(r"^(ll[1234]_(bad|good)|trap_good)_[a-z0-9_]+\.py$")
MARKER = re.compile(r"#\s*expect:\s*(LL\d{3}(?:\s*,\s*LL\d{3})*)")
OBSERVED = re.compile(r"^observed: (\d+):", re.MULTILINE)
CODES = {"LL101", "LL102", "LL103", "LL104", "LL105", "LL106", "LL201", "LL202", "LL203", "LL204", "LL301", "LL302", "LL303", "LL304",
         "LL401", "LL402", "LL403"}
TIMEOUT = HANG_GUARD


def markers(path: Path) -> dict[int, list[str]]:
    found = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        m = MARKER.search(line)
        if m:
            found[lineno] = [c.strip() for c in m.group(1).split(",")]
    return found


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1", TORCH_COMPILE_DISABLE="1")
    env.pop("PYTHONPATH", None)
    return env


def _run(argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        argv, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL
    )


RUNPY_CHECKED = ["ll1_bad_inplace_method.py", "ll2_bad_data_read_forward.py"]


def _runpy_argv(path: Path) -> list[str]:
    code = f"import os, runpy; os.chdir(os.path.dirname({str(ROOT)!r})); runpy.run_path({str(path)!r}, run_name='__main__')"
    return [sys.executable, "-c", code]


@pytest.fixture(scope="module")
def runs():
    """Start every run at once (torch's import dominates) in a small thread pool."""
    pool = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2))
    futures = {("script", p.name): pool.submit(_run, [sys.executable, str(p)]) for p in FILES}
    for name in RUNPY_CHECKED:
        futures[("runpy", name)] = pool.submit(_run, _runpy_argv(FIXTURES / name))
    yield futures
    pool.shutdown(wait=True, cancel_futures=True)


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
    proc = runs[("script", path.name)].result()
    assert proc.returncode == 0, _describe(proc)
    observed = [int(n) for n in OBSERVED.findall(proc.stdout)]
    if "_good_" in path.name:
        assert observed == [], _describe(proc)
        return
    duplicated = sorted({n for n in observed if observed.count(n) > 1})
    assert not duplicated, f"lines observed more than once: {duplicated}\n{_describe(proc)}"
    expected = set(markers(path))
    assert set(observed) == expected, (
        f"marked but not observed: {sorted(expected - set(observed))}; "
        f"observed but not marked: {sorted(set(observed) - expected)}\n{_describe(proc)}"
    )


@pytest.mark.parametrize("name", RUNPY_CHECKED)
def test_fixture_under_runpy(name, runs):
    """The fixtures also work through runpy.run_path (as the probe runs them), from another directory."""
    proc = runs[("runpy", name)].result()
    assert proc.returncode == 0, _describe(proc)
    assert {int(n) for n in OBSERVED.findall(proc.stdout)} == set(markers(FIXTURES / name)), _describe(proc)

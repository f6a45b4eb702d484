"""Fixture projects (fixtures/projects/<name>/): several modules whose bugs need the project index.

Both ways, as for the one-file fixtures: the static check reports exactly the ``# expect:``
markers of a bad project (whole-project run, and one run per file as pre-commit does), and none
in a good one; each project runs under real torch and observes exactly its markers
(``_expect.raises_in``); and the probe confirms every static finding of a bad project."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from leaflint.checking import check_paths
from markers import FIXTURES, MARKER

PROJECTS = sorted(p for p in (FIXTURES / "projects").iterdir() if p.is_dir())
OBSERVED = re.compile(r"^observed: (\S+):(\d+):", re.MULTILINE)


def markers(project: Path) -> set[tuple[str, int, str]]:
    found = set()
    for path in sorted(project.rglob("*.py")):
        rel = path.relative_to(project).as_posix()
        for row, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            match = MARKER.search(line)
            if match:
                found.update((rel, row, code.strip()) for code in match.group("codes").split(","))
    return found


def static(project: Path, paths, **kwargs) -> set[tuple[str, int, str]]:
    result = check_paths([str(p) for p in paths], select=["ALL"], jobs=1, cache=False, **kwargs)
    assert not result.internal_errors
    return {(Path(os.path.abspath(f.filename)).relative_to(project).as_posix(), f.location.row, f.code)
            for f in result.findings}


def test_there_are_bad_and_good_projects():
    names = [p.name for p in PROJECTS]
    assert any("_bad_" in n for n in names) and any("_good_" in n for n in names)
    for project in PROJECTS:
        assert (project / "main.py").is_file()
        if "_bad_" in project.name:
            assert markers(project)
        else:
            assert not markers(project)


@pytest.mark.parametrize("project", PROJECTS, ids=lambda p: p.name)
def test_static_findings_are_the_markers(project):
    assert static(project, [project]) == markers(project)


@pytest.mark.parametrize("project", PROJECTS, ids=lambda p: p.name)
def test_one_file_runs_find_the_same(project):
    """Each module checked alone (the other modules only through the index) reports what it
    causes; together, the markers."""
    union = set()
    for path in sorted(project.rglob("*.py")):
        union |= static(project, [path])
    assert union == markers(project)


def test_the_bad_project_needs_the_index():
    project = next(p for p in PROJECTS if "_bad_" in p.name)
    without = static(project, [project], index=False)
    assert without < markers(project)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1", TORCH_COMPILE_DISABLE="1")
    env.pop("PYTHONPATH", None)
    return env


@pytest.mark.parametrize("project", PROJECTS, ids=lambda p: p.name)
def test_project_runs_and_observes_its_markers(project):
    pytest.importorskip("torch")
    proc = subprocess.run([sys.executable, "main.py"], cwd=project, env=_env(), capture_output=True, text=True,
                          timeout=300, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
    observed = [(rel, int(row)) for rel, row in OBSERVED.findall(proc.stdout)]
    assert len(observed) == len(set(observed)), proc.stdout
    assert set(observed) == {(rel, row) for rel, row, _ in markers(project)}, proc.stdout


def test_the_probe_confirms_the_bad_project():
    pytest.importorskip("torch")
    from leaflint.probe import reconcile, runner
    from leaflint.probe.cli import targets_of

    project = next(p for p in PROJECTS if "_bad_" in p.name)
    cwd = os.getcwd()
    os.chdir(project)
    try:
        found = check_paths(["."], jobs=1, cache=False)
        run = runner.run("main.py", [], root=".", timeout=300,
                         targets=targets_of(found.findings), stdout=subprocess.DEVNULL)
    finally:
        os.chdir(cwd)
    assert run.returncode == 0, run.status_text()
    result = reconcile.reconcile(found.findings, run.events, run.coverage, cwd=str(project))
    verdicts = {(Path(v.finding.filename).as_posix(), v.finding.location.row, v.finding.code): v.verdict
                for v in result.all() if v.finding.code.startswith("LL1")}
    assert verdicts and set(verdicts.values()) == {reconcile.CONFIRMED}, verdicts
    assert {(f, r, c) for (f, r, c) in verdicts} == markers(project)

"""The two-half corpus (``bench/corpus2.py``, ``bench/corpus_manifest.toml``).

The committed manifest must agree with the split rule, and the tool must carry a project from a
repository through the manifest into a per-half report, with the findings tagged by half.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(REPO, "bench")


@pytest.fixture(scope="module")
def corpus2():
    sys.path.insert(0, BENCH)
    try:
        spec = importlib.util.spec_from_file_location("leaflint_bench_corpus2",
                                                      os.path.join(BENCH, "corpus2.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(BENCH)


def test_committed_verdicts_name_manifest_projects(corpus2):
    projects = {p.name for p in corpus2.load_projects()}
    verdicts = corpus2.load_verdicts(corpus2.VERDICTS)
    assert verdicts and {key[0] for key in verdicts} <= projects


def test_committed_manifest_follows_the_split_rule(corpus2):
    projects = corpus2.load_projects()
    names = [p.name for p in projects]
    assert len(names) == len(set(names))
    for p in projects:
        assert p.half == corpus2.half_of(p.name), p.name
        assert len(p.sha256) == 64 and p.lines > 0 and p.files > 0, p.name
        assert p.source in ("pypi", "github")
        if p.source == "github":
            assert len(p.commit) == 40 and p.repo.count("/") == 1, p.name
    # the round-one corpus stays where it was tuned on
    for name in corpus2.TUNING_FIXED:
        assert corpus2.half_of(name) == "tuning"
        assert name in names
    # issue 13: at least 5M lines from at least 25 projects, both halves substantial
    assert len(projects) >= 25
    assert sum(p.lines for p in projects) >= 5_000_000
    for half in corpus2.HALVES:
        assert sum(p.lines for p in projects if p.half == half) >= 1_000_000


def test_split_rule_is_by_name_only(corpus2):
    # normalised names decide: spelling variants of one project land in one half
    for name in ("pytorch-metric-learning", "torch_geometric", "Open.Clip-Torch"):
        variants = {name, name.lower(), name.replace("-", "_"), name.replace("_", "-")}
        assert len({corpus2.half_of(v) for v in variants}) == 1


def test_manifest_round_trip(corpus2, tmp_path):
    path = tmp_path / "m.toml"
    projects = corpus2.load_projects()
    corpus2.write_projects(projects, path)
    again = corpus2.load_projects(path)
    key = lambda p: p.name  # noqa: E731
    assert sorted(again, key=key) == sorted(projects, key=key)


def _git(repo, *args):
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
                        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"})


BAD = """\
import torch

w = torch.randn(3, requires_grad=True)
w[0] = 1.0
"""


def test_add_github_then_run_reports_per_half(corpus2, tmp_path):
    # one project name per half, chosen by the rule itself
    names = {}
    for i in range(50):
        names.setdefault(corpus2.half_of(f"proj{i}"), f"proj{i}")
    assert set(names) == set(corpus2.HALVES)
    cache, manifest = tmp_path / "cache", tmp_path / "manifest.toml"
    tool = [sys.executable, os.path.join(BENCH, "corpus2.py"), "--cache-dir", str(cache),
            "--manifest", str(manifest)]
    for half, name in names.items():
        repo = tmp_path / name
        (repo / "pkg").mkdir(parents=True)
        (repo / "pkg" / "train.py").write_text(BAD)
        (repo / "README.md").write_text("not python\n")
        _git(repo, "init", "-q")
        _git(repo, "add", ".")
        _git(repo, "commit", "-qm", "x")
        commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], check=True,
                                capture_output=True, text=True).stdout.strip()
        out = subprocess.run([*tool, "add", "github", f"someone/{name}", commit,
                              "--git-dir", str(repo / ".git")],
                             capture_output=True, text=True, check=True).stdout
        assert f"{half} half, 1 files, 4 lines" in out
    projects = corpus2.load_projects(manifest)
    assert {p.name: p.half for p in projects} == {n: h for h, n in names.items()}

    findings = tmp_path / "findings.tsv"
    summary = tmp_path / "summary.json"
    # a triage file that judges the tuning project's finding (any rule code: read it back)
    verdicts = tmp_path / "verdicts.tsv"
    verdicts.write_text("# comment\n")
    run = [*tool, "run", "--leaflint-path", REPO, "--jobs", "1", "--findings-out", str(findings),
           "--summary", str(summary), "--verdicts", str(verdicts)]
    proc = subprocess.run(run, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    code = findings.read_text().split(": ", 1)[1].split()[0]
    verdicts.write_text(f"{names['tuning']}\tpkg/train.py\t4\t{code}\ttrue\twhy\t-\n")
    proc = subprocess.run(run, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "## tuning half (1 projects)" in proc.stdout
    assert "## validation half (1 projects)" in proc.stdout
    rows = findings.read_text().splitlines()
    assert sorted(r.split("\t")[:3] for r in rows) == sorted(
        [h, n, "true" if h == "tuning" else "new"] for h, n in names.items())
    assert all("pkg/train.py:4:" in r and "LL1" in r for r in rows)
    data = json.loads(summary.read_text())
    for half in corpus2.HALVES:
        total = data["halves"][half]["total"]
        assert (total["findings"], total["linted_lines"], total["internal_errors"]) == (1, 4, 0)
    assert data["halves"]["tuning"]["total"]["verdicts"] == {"true": 1, "false": 0, "new": 0}
    assert data["halves"]["validation"]["total"]["verdicts"] == {"true": 0, "false": 0, "new": 1}
    assert "| tuning | 1 | 4 | 1 | 25000.00 | 1 | 0 | 0 | 100% |" in proc.stdout

    # a malformed triage file is one clear line, not a traceback
    verdicts.write_text("x\ty\tnot-a-line\tLL101\tmaybe\n")
    proc = subprocess.run(run, capture_output=True, text=True)
    assert proc.returncode == 2
    assert f"{verdicts}:1:" in proc.stderr and "Traceback" not in proc.stderr

    # a changed archive is refused, not measured
    archive = cache / "archives" / projects[0].file
    archive.write_bytes(archive.read_bytes() + b"\0")
    proc = subprocess.run([*tool, "download"], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "manifest says" in proc.stderr

"""The content-hash cache, the prefilter and the process pool (no timing assertions)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
import threading

import pytest

from leaflint import cache as cache_mod
from leaflint import engine
from leaflint.cache import Cache, KeyMaker, project_root, resolve_dir
from leaflint.checking import check_paths
from leaflint.engine import PREFILTER, Selection, lint_groups
from leaflint.findings import Edit, Finding, Fix, Position
from leaflint.report import FORMATTERS
from hang_guard import HANG_GUARD

BAD = textwrap.dedent("""\
    import torch

    w = torch.zeros(3, requires_grad=True)
    w.add_(1)
    w -= 1
""")
DATA = textwrap.dedent("""\
    import torch
    from torch import nn

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.ones(2, 2))

        def forward(self, x):
            return x @ self.w.data
""")
GOOD = "import torch\nx = torch.zeros(3)\nx.add_(1)\n"
PLAIN = "x = 1\n"
DEFAULT_CODES = Selection().codes()


def run(*args, cwd, env=None):
    full_env = dict(os.environ)
    full_env.pop("LEAFLINT_CACHE_DIR", None)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "leaflint", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=HANG_GUARD, env=full_env)


@pytest.fixture()
def project(tmp_path):
    root = tmp_path / "proj"
    root.mkdir()
    (root / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    (root / "bad.py").write_text(BAD)
    (root / "data.py").write_text(DATA)
    (root / "good.py").write_text(GOOD)
    (root / "plain.py").write_text(PLAIN)
    return root


def entries(directory) -> list[str]:
    found = []
    for base, _, names in os.walk(directory):
        found.extend(os.path.join(base, n) for n in names if n.endswith(".json"))
    return sorted(found)


def lint(paths, store, jobs=1, codes=DEFAULT_CODES):
    return lint_groups([(codes, [str(p) for p in paths])], jobs=jobs, cache=store)


# ----------------------------------------------------------------------------- hits and misses


def test_miss_then_hit(project, tmp_path):
    store = Cache(str(tmp_path / "c"))
    files = sorted(project.glob("*.py"))
    first = lint(files, store)
    # plain.py has no torch word: the prefilter skips it, nothing is parsed or stored for it
    assert store.hits == 0 and store.writes == 3
    assert len(entries(tmp_path / "c")) == 3
    again = Cache(str(tmp_path / "c"))
    second = lint(files, again)
    assert again.hits == 3 and again.misses == 0 and again.writes == 0
    assert [r.findings for r in first] == [r.findings for r in second]
    assert [f.code for r in second for f in r.findings] == ["LL101", "LL102", "LL203"]


def test_hit_neither_parses_nor_imports_the_pipeline(project, tmp_path, monkeypatch):
    files = sorted(project.glob("*.py"))
    expected = lint(files, Cache(str(tmp_path / "c")))

    def boom(*args, **kwargs):
        raise AssertionError("a cache hit must not lint")

    monkeypatch.setattr(engine, "lint_bytes", boom)
    monkeypatch.setattr(engine, "lint_source", boom)
    assert lint(files, Cache(str(tmp_path / "c"))) == expected


def test_warm_cli_run_does_not_lint_and_engine_imports_no_libcst(project):
    """The engine and the cache modules import no libcst; a warm run parses nothing."""
    code = ("import sys; import leaflint.engine, leaflint.cache; "
            "print(any(m == 'libcst' or m.startswith('libcst.') for m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=HANG_GUARD)
    assert proc.stdout.strip() == "False", proc.stderr
    run("check", ".", cwd=project)
    probe = ("import sys, leaflint.engine as e\n"
             "def boom(*a, **k): raise SystemExit('linted on a warm run')\n"
             "e.lint_bytes = boom\n"
             "from leaflint.cli import main\n"
             "sys.argv = ['leaflint', 'check', '.']\n"
             "main()\n")
    proc = subprocess.run([sys.executable, "-c", probe], cwd=project, capture_output=True, text=True, timeout=HANG_GUARD)
    assert proc.returncode == 1, proc.stderr
    assert "linted on a warm run" not in proc.stderr
    assert "LL101" in proc.stdout


def test_identical_files_share_an_entry_and_keep_their_own_names(project, tmp_path):
    (project / "sub").mkdir()
    (project / "sub" / "copy.py").write_text(BAD)
    store = Cache(str(tmp_path / "c"))
    lint([project / "bad.py"], store)
    again = Cache(str(tmp_path / "c"))
    [result] = lint([project / "sub" / "copy.py"], again)
    assert again.hits == 1
    assert {f.filename for f in result.findings} == {str(project / "sub" / "copy.py")}


# ----------------------------------------------------------------------------- invalidation


def test_content_change_is_a_miss(project, tmp_path):
    lint([project / "bad.py"], Cache(str(tmp_path / "c")))
    (project / "bad.py").write_text(BAD.replace("w -= 1\n", ""))
    store = Cache(str(tmp_path / "c"))
    [result] = lint([project / "bad.py"], store)
    assert store.hits == 0 and store.writes == 1
    assert [f.code for f in result.findings] == ["LL101"]


def test_settings_change_is_a_miss(project, tmp_path):
    lint([project / "bad.py"], Cache(str(tmp_path / "c")))
    store = Cache(str(tmp_path / "c"))
    [result] = lint([project / "bad.py"], store, codes=("LL101",))
    assert store.hits == 0
    assert [f.code for f in result.findings] == ["LL101"]
    # and back: the first entry is still there
    again = Cache(str(tmp_path / "c"))
    [result] = lint([project / "bad.py"], again)
    assert again.hits == 1 and [f.code for f in result.findings] == ["LL101", "LL102"]


def test_suffix_is_part_of_the_key(tmp_path):
    keys = KeyMaker("fp", DEFAULT_CODES)
    assert keys.key(b"x", "a.py") == keys.key(b"x", "b/c.py")
    assert keys.key(b"x", "a.py") != keys.key(b"x", "a.pyi")
    assert keys.key(b"x", "a.py") != keys.key(b"y", "a.py")
    assert keys.key(b"x", "a.py") != KeyMaker("fp", ("LL101",)).key(b"x", "a.py")
    assert keys.key(b"x", "a.py") != KeyMaker("fp2", DEFAULT_CODES).key(b"x", "a.py")


def test_version_change_is_a_miss(project, tmp_path, monkeypatch):
    lint([project / "bad.py"], Cache(str(tmp_path / "c")))
    before = cache_mod.fingerprint()
    monkeypatch.setattr(cache_mod, "__version__", "999.0")
    assert cache_mod.fingerprint() != before
    store = Cache(str(tmp_path / "c"))
    lint([project / "bad.py"], store)
    assert store.hits == 0 and store.writes == 1


def test_edited_leaflint_source_changes_the_fingerprint(monkeypatch):
    real = cache_mod._package_fingerprint()
    assert any(path.endswith("semantic.py") for path, _, _ in real)
    assert not any(path.startswith(("probe", "report")) for path, _, _ in real)
    edited = [(p, size, mtime + 1 if p.endswith("semantic.py") else mtime) for p, size, mtime in real]
    before = cache_mod.fingerprint()
    monkeypatch.setattr(cache_mod, "_package_fingerprint", lambda: edited)
    assert cache_mod.fingerprint() != before


# ----------------------------------------------------------------------------- robustness


@pytest.mark.parametrize("garbage", [b"", b"{\"key\": ", b"\x00\xff\xfe", b"[]", b"{\"key\": \"other\", \"findings\": []}",
                                     b"{\"findings\": [{\"code\": 1}]}"])
def test_corrupt_entry_is_ignored_and_rebuilt(project, tmp_path, garbage):
    store = Cache(str(tmp_path / "c"))
    expected = lint([project / "bad.py"], store)
    [entry] = entries(tmp_path / "c")
    with open(entry, "wb") as handle:
        handle.write(garbage)
    again = Cache(str(tmp_path / "c"))
    assert lint([project / "bad.py"], again) == expected
    assert again.hits == 0 and again.writes == 1
    third = Cache(str(tmp_path / "c"))
    assert lint([project / "bad.py"], third) == expected
    assert third.hits == 1


def test_unwritable_cache_is_not_an_error(project, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    store = Cache(str(blocker / "c"))
    [result] = lint([project / "bad.py"], store)
    assert [f.code for f in result.findings] == ["LL101", "LL102"]
    assert store.writes == 0


def test_internal_errors_and_unreadable_files_are_not_cached(project, tmp_path, monkeypatch):
    def broken(text, filename, rules):
        raise RuntimeError("bug")

    monkeypatch.setattr(engine, "lint_source", broken)
    store = Cache(str(tmp_path / "c"))
    [result, missing] = lint([project / "bad.py", project / "missing.py"], store)
    assert result.internal_error and [f.code for f in result.findings] == ["LL003"]
    assert [f.code for f in missing.findings] == ["LL002"]
    assert entries(tmp_path / "c") == []


def test_concurrent_writers_of_one_entry(tmp_path):
    store = Cache(str(tmp_path / "c"))
    key = store.keys(DEFAULT_CODES).key(BAD.encode(), "bad.py")
    finding = Finding("LL101", "n", "m", "x.py", Position(1, 1), Position(1, 2))
    errors = []

    def write():
        try:
            for _ in range(50):
                Cache(str(tmp_path / "c")).put(key, [finding] * 20)
                got = Cache(str(tmp_path / "c")).get(key, "bad.py")
                assert got is None or len(got) == 20  # never a partial entry
        except Exception as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(Cache(str(tmp_path / "c")).get(key, "bad.py")) == 20
    leftovers = [n for _, _, names in os.walk(tmp_path / "c") for n in names if n.endswith(".tmp")]
    assert leftovers == []


def test_concurrent_cli_runs_share_one_cache(project):
    procs = [subprocess.Popen([sys.executable, "-m", "leaflint", "check", "--output-format", "json", "."],
                              cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    outputs = [p.communicate(timeout=HANG_GUARD)[0] for p in procs]
    assert all(p.returncode == 1 for p in procs)
    assert len(set(outputs)) == 1
    warm = run("check", "--output-format", "json", ".", cwd=project)
    assert warm.stdout == outputs[0]
    for entry in entries(project / ".leaflint_cache"):
        with open(entry, encoding="utf-8") as handle:
            json.load(handle)


# ----------------------------------------------------------------------------- the command line


def test_no_cache_neither_reads_nor_writes(project):
    first = run("check", "--output-format", "json", ".", cwd=project)
    # poison the entry of bad.py: a cached run reports the forged finding, --no-cache must not
    [entry] = [e for e in entries(project / ".leaflint_cache") if '"LL102"' in open(e).read()]
    with open(entry, encoding="utf-8") as handle:
        data = json.load(handle)
    data["findings"][0]["message"] = "FROM THE CACHE"
    with open(entry, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    assert "FROM THE CACHE" in run("check", ".", cwd=project).stdout
    uncached = run("check", "--no-cache", "--output-format", "json", ".", cwd=project)
    assert uncached.stdout == first.stdout
    fresh = project.parent / "fresh"
    fresh.mkdir()
    (fresh / "bad.py").write_text(BAD)
    run("check", "--no-cache", ".", cwd=fresh)
    assert not (fresh / ".leaflint_cache").exists()


def test_default_location_is_the_project_root(project):
    sub = project / "pkg" / "deep"
    sub.mkdir(parents=True)
    (sub / "m.py").write_text(BAD)
    run("check", "pkg/deep/m.py", cwd=project)
    assert entries(project / ".leaflint_cache")
    assert not (sub / ".leaflint_cache").exists()
    assert (project / ".leaflint_cache" / ".gitignore").read_text().strip().endswith("*")
    assert project_root([str(sub / "m.py")]) == str(project)
    assert resolve_dir(None, [str(sub)]) == str(project / ".leaflint_cache")


def test_cache_dir_option_and_environment(project, tmp_path):
    run("check", "--cache-dir", str(tmp_path / "opt"), ".", cwd=project)
    assert entries(tmp_path / "opt")
    run("check", ".", cwd=project, env={"LEAFLINT_CACHE_DIR": str(tmp_path / "env")})
    assert entries(tmp_path / "env")
    assert not (project / ".leaflint_cache").exists()


@pytest.mark.parametrize("output_format", sorted(FORMATTERS))
def test_output_identical_cached_and_uncached(project, output_format):
    (project / "broken.py").write_text("import torch\ndef f(:\n")
    (project / "latin.py").write_bytes(b"import torch\nx = '\xe9'\n")
    uncached = run("check", "--no-cache", "--output-format", output_format, ".", cwd=project)
    cold = run("check", "--output-format", output_format, ".", cwd=project)
    warm = run("check", "--output-format", output_format, ".", cwd=project)
    assert uncached.returncode == cold.returncode == warm.returncode == 1
    assert uncached.stdout == cold.stdout == warm.stdout
    assert uncached.stderr == cold.stderr == warm.stderr


def test_finding_round_trip():
    finding = Finding("LL101", "inplace-method-on-leaf", "msg \u00e9", "a/b.py", Position(3, 4), Position(3, 9),
                      Fix("wrap it", "unsafe", [Edit(Position(3, 1), Position(3, 9), "with x:\n    y")]), cell=2,
                      detail="the whole story")
    entry = cache_mod.finding_to_entry(finding)
    assert "filename" not in entry
    assert Finding.from_dict(json.loads(json.dumps(entry)), "a/b.py") == finding
    assert Finding.from_dict(finding.to_dict()) == finding
    # a field added to these classes must be added to to_dict/from_dict (and so to the cache)
    assert [f.name for f in dataclasses.fields(Finding)] == [
        "code", "name", "message", "filename", "location", "end_location", "fix", "cell", "detail"]
    assert [f.name for f in dataclasses.fields(Fix)] == ["message", "applicability", "edits"]
    assert [f.name for f in dataclasses.fields(Edit)] == ["start", "end", "content"]


# ----------------------------------------------------------------------------- prefilter and pool


@pytest.mark.parametrize("source", [
    # no torch import: the leaf comes from requires_grad_() on a tensor expression
    "class T:\n    def step(self):\n        w = self.weight.detach().requires_grad_()\n        w.add_(1)\n",
    # spacing between the method name and its call
    "def step(model, lr):\n    for p in model.parameters ():\n        p -= lr * p.grad\n",
    "def step(opt):\n    for g in opt.param_groups:\n        for p in g['params']:\n            p.mul_(0.9)\n",
])
def test_prefilter_keeps_files_with_findings(tmp_path, source):
    assert PREFILTER.search(source)
    path = tmp_path / "m.py"
    path.write_text(source)
    result = check_paths([str(path)], select=["ALL"], cache=False)
    assert result.findings, source


def test_pool_results_match_one_process(project, tmp_path, monkeypatch):
    for i in range(12):
        (project / f"bad{i}.py").write_text(BAD + "\n" * i)
        (project / f"data{i}.py").write_text(DATA)
    files = sorted(str(p) for p in project.glob("*.py")) + [str(project / "missing.py")]
    serial = lint_groups([(DEFAULT_CODES, files)], jobs=1)
    monkeypatch.setattr(engine, "POOL_MIN_BYTES", 0)
    store = Cache(str(tmp_path / "c"))
    pooled = lint_groups([(DEFAULT_CODES, files)], jobs=2, cache=store)
    assert pooled == serial
    assert store.writes == len(files) - 2  # not plain.py (prefilter), not missing.py (unreadable)
    warm = lint_groups([(DEFAULT_CODES, files)], jobs=2, cache=Cache(str(tmp_path / "c")))
    assert warm == serial


def test_spawned_pool_gives_the_same_results(project, tmp_path, monkeypatch):
    """Where fork is not used (macOS, Windows, threads running), workers are spawned."""
    import multiprocessing

    for i in range(4):
        (project / f"bad{i}.py").write_text(BAD + "\n" * i)
    files = sorted(str(p) for p in project.glob("*.py"))
    serial = lint_groups([(DEFAULT_CODES, files)], jobs=1)
    monkeypatch.setattr(engine, "_mp_context", lambda: multiprocessing.get_context("spawn"))
    monkeypatch.setattr(engine, "POOL_MIN_BYTES_SPAWN", 0)
    store = Cache(str(tmp_path / "c"))
    assert lint_groups([(DEFAULT_CODES, files)], jobs=2, cache=store) == serial
    assert store.writes == len(files) - 1

"""Crash isolation, safe writes and probe robustness (issue 8, DESIGN.md section 8).

- A rule (or the model) that throws on one file: that file gets an LL003 internal-error
  diagnostic asking for a report (the traceback with ``--verbose``), the run exits 2, and every
  other file's results are still printed; in one process and in the worker pool. A worker
  process that dies on a file costs that file only.
- Safe writes: ``--fix`` never touches a file that does not parse; an interrupted fix run leaves
  each file either old or new, and no temporary file behind; a torn cache entry is rebuilt.
- The probe: a program killed by a signal, one that ignores SIGTERM at ``--timeout``, a
  ``SystemExit`` with a code, an events file cut short: the report says what happened and keeps
  the partial results.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner

from leaflint import engine
from leaflint.cli import main
from leaflint.rules import REGISTRY, select_rules

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NORMAL = "import torch\nw = torch.zeros(3, requires_grad=True)\nw.add_(1)\n"
OTHER = "import torch\np = torch.nn.Parameter(torch.zeros(3))\np -= 1\n"
BOOM = "import torch\n# BOOM\nv = torch.ones(2, requires_grad=True)\nv.mul_(2)\n"
REPORT_LINE = "please report it"


def _explode_on_marker(monkeypatch, code="LL101", exc_factory=lambda: ValueError("injected failure")):
    """Make rule ``code`` raise on files containing ``# BOOM`` (rules see the module, not the name)."""
    cls = REGISTRY[code]
    original = cls.check

    def check(self, model):
        if "# BOOM" in model.module.code:
            raise exc_factory()
        return original(self, model)

    monkeypatch.setattr(cls, "check", check)


def _invoke(tree, monkeypatch, *args):
    monkeypatch.chdir(tree)
    return CliRunner().invoke(main, ["check", "--no-cache", "--isolated", *args])


@pytest.fixture()
def tree(tmp_path):
    (tmp_path / "normal.py").write_text(NORMAL)
    (tmp_path / "other.py").write_text(OTHER)
    (tmp_path / "boom.py").write_text(BOOM)
    return tmp_path


def _lines(output):
    return [line for line in output.splitlines() if line]


# ------------------------------------------------------------------------- crash isolation


def test_rule_exception_is_an_internal_error_for_that_file_only(tree, monkeypatch):
    _explode_on_marker(monkeypatch)
    result = _invoke(tree, monkeypatch, "-j", "1", ".")
    assert result.exit_code == 2, result.output
    lines = _lines(result.stdout)
    assert any(line.startswith("normal.py:3:1: LL101") for line in lines), lines
    assert any(line.startswith("other.py:3:1: LL102") for line in lines), lines
    [boom] = [line for line in lines if line.startswith("boom.py")]
    assert boom.startswith("boom.py:1:1: LL003 internal error while checking this file "
                           "(ValueError: injected failure)")
    assert REPORT_LINE in boom and "--verbose" in boom
    assert "Traceback" not in result.stderr  # only with --verbose


def test_verbose_prints_the_traceback(tree, monkeypatch):
    _explode_on_marker(monkeypatch)
    result = _invoke(tree, monkeypatch, "-j", "1", "--verbose", ".")
    assert result.exit_code == 2
    assert "leaflint: internal error in boom.py:" in result.stderr
    assert "Traceback (most recent call last)" in result.stderr
    assert "ValueError: injected failure" in result.stderr and "in check" in result.stderr
    assert "normal.py:3:1: LL101" in result.stdout


def test_internal_error_in_json_output(tree, monkeypatch):
    _explode_on_marker(monkeypatch)
    result = _invoke(tree, monkeypatch, "-j", "1", "--output-format", "json", ".")
    assert result.exit_code == 2
    found = {(f["filename"], f["code"]) for f in json.loads(result.stdout)}
    assert found == {("boom.py", "LL003"), ("normal.py", "LL101"), ("other.py", "LL102")}


def test_exception_in_the_model_is_isolated_too(tree, monkeypatch):
    import leaflint.model as model_pkg

    original = model_pkg.build_model

    def build_model(module, *project):
        if "# BOOM" in module.code:
            raise KeyError("model bug")
        return original(module, *project)

    monkeypatch.setattr(model_pkg, "build_model", build_model)
    result = _invoke(tree, monkeypatch, "-j", "1", ".")
    assert result.exit_code == 2
    assert "boom.py:1:1: LL003 internal error while checking this file (KeyError: 'model bug')" in result.stdout
    assert "normal.py:3:1: LL101" in result.stdout and "other.py:3:1: LL102" in result.stdout


def test_base_exception_from_native_code_is_isolated(tree, monkeypatch):
    """pyo3 (libcst's native parser) raises PanicException, a BaseException, on a Rust panic."""

    class PanicException(BaseException):
        pass

    _explode_on_marker(monkeypatch, exc_factory=lambda: PanicException("called `Option::unwrap()` on a `None`"))
    result = _invoke(tree, monkeypatch, "-j", "1", ".")
    assert result.exit_code == 2, result.output
    assert "boom.py:1:1: LL003 internal error while checking this file (PanicException:" in result.stdout
    assert "normal.py:3:1: LL101" in result.stdout


def test_keyboard_interrupt_is_not_swallowed(monkeypatch):
    _explode_on_marker(monkeypatch, exc_factory=KeyboardInterrupt)
    with pytest.raises(KeyboardInterrupt):
        engine.lint_bytes(BOOM.encode(), "boom.py", select_rules(None))


def _pool_tree(tree):
    """Enough source for the worker pool (engine.POOL_MIN_BYTES) in many files."""
    pad = "# " + "x" * 76 + "\n"
    per_file = 40
    count = max(40, engine.POOL_MIN_BYTES // (len(pad) * per_file) + 8)
    for i in range(count):
        (tree / f"mod_{i:03d}.py").write_text(NORMAL + pad * per_file)
    return count


def _fork_available():
    return "fork" in multiprocessing.get_all_start_methods() and engine._mp_context() is not None


@pytest.mark.skipif(not _fork_available(), reason="the pool inherits the injected failure only through fork")
def test_rule_exception_in_a_pool_worker(tree, monkeypatch):
    count = _pool_tree(tree)
    _explode_on_marker(monkeypatch)
    result = _invoke(tree, monkeypatch, "-j", "2", "--verbose", "--output-format", "json", ".")
    assert result.exit_code == 2, result.output
    findings = json.loads(result.stdout)
    by_file = {}
    for f in findings:
        by_file.setdefault(f["filename"], []).append(f["code"])
    assert by_file.pop("boom.py") == ["LL003"]
    assert by_file == {"normal.py": ["LL101"], "other.py": ["LL102"],
                       **{f"mod_{i:03d}.py": ["LL101"] for i in range(count)}}
    assert "ValueError: injected failure" in result.stderr  # the worker's traceback came back


_CRASH_HOOK = """
import os, signal, sys
from leaflint.rules import REGISTRY
cls = REGISTRY["LL101"]
original = cls.check
def check(self, model):
    if "# BOOM" in model.module.code:
        os.kill(os.getpid(), signal.SIGKILL)  # as a segfault in native code or the OOM killer would
    return original(self, model)
cls.check = check
from leaflint.cli import main
main(sys.argv[1:], prog_name="leaflint")
"""


@pytest.mark.skipif(not _fork_available(), reason="needs the fork start method")
def test_a_worker_killed_by_one_file_costs_that_file_only(tree):
    """A file that kills the process checking it (in every process: a deterministic native
    crash) gets LL003; the other files, including those of its chunk, keep their results."""
    count = _pool_tree(tree)
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", _CRASH_HOOK, "check", "--no-cache", "--isolated", "-j", "2",
                           "--output-format", "json", "."], cwd=tree, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    findings = json.loads(proc.stdout)
    by_file = {}
    for f in findings:
        by_file.setdefault(f["filename"], []).append(f)
    [boom] = by_file.pop("boom.py")
    assert boom["code"] == "LL003" and REPORT_LINE in boom["message"]
    assert "died" in boom["message"]
    assert {name: [f["code"] for f in fs] for name, fs in by_file.items()} == {
        "normal.py": ["LL101"], "other.py": ["LL102"], **{f"mod_{i:03d}.py": ["LL101"] for i in range(count)}}


# ----------------------------------------------------------------------------- safe writes

FIXABLE = "import torch\nw = torch.zeros(3, requires_grad=True)\nw.add_(1)\n"


def _fixes_available():
    try:
        from leaflint import fix  # noqa: F401
    except ImportError:
        pytest.skip("leaflint.fix does not exist yet: no --fix to test")


def test_fix_never_touches_a_file_that_does_not_parse(tmp_path, monkeypatch):
    _fixes_available()
    broken = b"import torch\nw = torch.zeros(3, requires_grad=True)\nw.add_(1)\ndef f(:\n"
    (tmp_path / "broken.py").write_bytes(broken)
    (tmp_path / "normal.py").write_text(FIXABLE)
    before = os.stat(tmp_path / "broken.py").st_mtime_ns
    result = _invoke(tmp_path, monkeypatch, "--fix", "--unsafe-fixes", ".")
    assert result.exit_code == 1, result.output
    assert (tmp_path / "broken.py").read_bytes() == broken
    assert os.stat(tmp_path / "broken.py").st_mtime_ns == before
    assert "broken.py:4:7: LL001" in result.stdout
    assert "torch.no_grad()" in (tmp_path / "normal.py").read_text()  # the other file was fixed


@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), KeyboardInterrupt()],
                         ids=["oserror", "ctrl-c"])
def test_interrupted_fix_run_leaves_each_file_old_or_new(tmp_path, monkeypatch, failure):
    """The run fails between writing the temporary file and renaming it, on the second file."""
    _fixes_available()
    names = ["a.py", "b.py", "c.py"]
    for name in names:
        (tmp_path / name).write_text(FIXABLE)
    calls = []
    real_replace = os.replace

    def replace(src, dst, *args, **kwargs):
        calls.append(dst)
        if len(calls) == 2:
            raise failure
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    result = _invoke(tmp_path, monkeypatch, "--fix", ".")
    if isinstance(failure, KeyboardInterrupt):
        assert result.exit_code != 0 and "Aborted!" in result.stderr  # click's Ctrl-C
    else:
        assert result.exit_code == 2
        assert "cannot write the fixes" in result.stderr and "No space left on device" in result.stderr
    monkeypatch.setattr(os, "replace", real_replace)
    contents = [(tmp_path / name).read_text() for name in names]
    fixed = [c for c in contents if c != FIXABLE]
    assert len(fixed) == 1, contents  # the first file written, the second failed, the third untouched
    assert "with torch.no_grad():" in fixed[0] and "w.add_(1)" in fixed[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == names  # no temporary file left behind
    # and a re-run finishes the job
    result = _invoke(tmp_path, monkeypatch, "--fix", ".")
    assert result.exit_code == 0, result.output
    assert all((tmp_path / name).read_text() == fixed[0] for name in names)


def test_failure_while_writing_the_temporary_file(tmp_path, monkeypatch):
    _fixes_available()
    (tmp_path / "a.py").write_text(FIXABLE)

    def fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", fsync)
    result = _invoke(tmp_path, monkeypatch, "--fix", ".")
    assert result.exit_code == 2
    assert (tmp_path / "a.py").read_text() == FIXABLE
    assert [p.name for p in tmp_path.iterdir()] == ["a.py"]


def test_torn_cache_entry_and_stale_temporary_are_ignored(tmp_path, monkeypatch):
    """A writer killed mid-write leaves a temporary file; a torn entry (a foreign tool, a full
    disk) is truncated JSON. Both are ignored, the entry is rebuilt, the output is the same."""
    try:
        from leaflint import cache  # noqa: F401
    except ImportError:
        pytest.skip("leaflint.cache does not exist yet")
    (tmp_path / "normal.py").write_text(NORMAL)
    cache_dir = tmp_path / "cache"
    args = ["check", "--isolated", "--cache-dir", str(cache_dir), "--output-format", "json", "normal.py"]
    monkeypatch.chdir(tmp_path)
    first = CliRunner().invoke(main, args)
    entries = [os.path.join(d, n) for d, _, ns in os.walk(cache_dir) for n in ns if n.endswith(".json")]
    assert len(entries) == 1, entries
    [entry] = entries
    data = open(entry, "rb").read()
    with open(entry, "wb") as handle:
        handle.write(data[: len(data) // 2])
    with open(os.path.join(os.path.dirname(entry), ".stale.1234.deadbeef.tmp"), "wb") as handle:
        handle.write(data[:10])
    second = CliRunner().invoke(main, args)
    assert second.exit_code == first.exit_code == 1
    assert second.stdout == first.stdout
    assert open(entry, "rb").read() == data  # rebuilt


# ---------------------------------------------------------------------- probe robustness


def _probe(tmp_path, source, *args, timeout=240):
    pytest.importorskip("torch")
    try:
        import leaflint.probe.cli  # noqa: F401
    except ImportError:
        pytest.skip("leaflint.probe does not exist yet")
    (tmp_path / "prog.py").write_text(textwrap.dedent(source))
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "leaflint.probe.cli", *args, "prog.py"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=timeout)


CONFIRM_THEN = """\
    import os, signal, sys, time
    import torch
    w = torch.randn(3, requires_grad=True)
    try:
        w.add_(1)
    except RuntimeError:
        pass
    {after}
"""


def test_probe_program_killed_by_a_signal(tmp_path):
    proc = _probe(tmp_path, CONFIRM_THEN.format(after="os.kill(os.getpid(), signal.SIGKILL)"))
    assert proc.returncode == 128 + signal.SIGKILL, proc.stdout + proc.stderr  # never 0 for a killed run
    assert "killed by SIGKILL" in proc.stdout
    assert "5:5: LL101 [confirmed]" in proc.stdout


def test_probe_program_exits_with_a_code(tmp_path):
    proc = _probe(tmp_path, CONFIRM_THEN.format(after="sys.exit(3)"))
    assert proc.returncode == 3, proc.stdout + proc.stderr  # the program's own status wins
    assert "exit status 3" in proc.stdout
    assert "5:5: LL101 [confirmed]" in proc.stdout


def test_probe_timeout_kills_a_program_that_ignores_sigterm(tmp_path):
    ready = str(tmp_path / "ready")
    # The timeout counts from the ready file, written once torch is imported and the op ran.
    proc = _probe(tmp_path, CONFIRM_THEN.format(after="signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                                                      f"    open({ready!r}, 'w').close()\n"
                                                      "    time.sleep(600)"),
                  "--timeout", "1", "--ready-file", ready)
    assert proc.returncode == 124, proc.stdout + proc.stderr
    assert "timed out after" in proc.stdout
    assert "5:5: LL101 [confirmed]" in proc.stdout


def test_probe_events_file_cut_short(tmp_path):
    """The program dies in the middle of writing an event: the torn record is dropped, the
    events before it are kept, and the report says how the program ended."""
    tear = ("d = os.environ['LEAFLINT_PROBE_EVENTS']\n"
            "    path = os.path.join(d, f'events-{os.getpid()}.jsonl')\n"
            "    fd = os.open(path, os.O_WRONLY | os.O_APPEND)\n"
            "    os.write(fd, b'{\"k\": \"op\", \"torn\": \"\\xc3')\n"
            "    os.kill(os.getpid(), signal.SIGKILL)")
    proc = _probe(tmp_path, CONFIRM_THEN.format(after=tear))
    assert proc.returncode == 128 + signal.SIGKILL, proc.stdout + proc.stderr
    assert "killed by SIGKILL" in proc.stdout
    assert "5:5: LL101 [confirmed]" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_read_events_survives_torn_and_foreign_files(tmp_path):
    try:
        from leaflint.probe.events import read_coverage, read_events
    except ImportError:
        pytest.skip("leaflint.probe does not exist yet")
    good = json.dumps({"k": "proc", "pid": 1})
    (tmp_path / "events-1.jsonl").write_bytes(f"{good}\n{{\"k\": \"op\", \"x\":".encode())
    (tmp_path / "events-2.jsonl").write_bytes(b"\xff\xfe\x00garbage\n\n" + f"{good}\n".encode())
    (tmp_path / "events-3.jsonl").write_bytes(b"")
    (tmp_path / "events-4.jsonl").mkdir()  # not a file at all
    (tmp_path / "lines-1.txt").write_bytes(b"12\t/x.py\nnot-a-number\t/y.py\n7\t/z.py\n3\t")
    assert read_events(str(tmp_path)) == [{"k": "proc", "pid": 1}, {"k": "proc", "pid": 1}]
    assert read_coverage(str(tmp_path)) == {("/x.py", 12), ("/z.py", 7)}
    assert read_events(str(tmp_path / "gone")) == [] and read_coverage(str(tmp_path / "gone")) == set()

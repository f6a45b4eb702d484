"""A failure inside the monitor is never swallowed: it is counted in the run's record
(``monitor_error``, schema.py), reported as a count, and shown with ``--verbose``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points

import pytest
from hang_guard import HANG_GUARD

pytest.importorskip("torch")

from leaflint.probe import report, runner, schema, state  # noqa: E402
from leaflint.probe.events import AppendFile, read_events  # noqa: E402
from leaflint.probe.project import Project  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A module whose named_modules() raises: the monitor calls it to name the Parameter that forward
# replaces (LL301), so the Parameter registration hook fails inside the user's program.
ODD = """\
import torch
import torch.nn as nn


class Odd(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(2))

    def named_modules(self, *args, **kwargs):
        raise ValueError("named_modules is not for you")

    def forward(self, x):
        self.w = nn.Parameter(torch.ones(2))
        return x * self.w


Odd()(torch.ones(2)).sum().backward()
print("program finished")
"""


# The same module under pytest: the plugin runs the monitor inside the test session.
ODD_TEST = ODD.replace('Odd()(torch.ones(2)).sum().backward()\nprint("program finished")\n',
                       'def test_odd():\n    Odd()(torch.ones(2)).sum().backward()\n')


def _plugin_args() -> list[str]:
    names = {e.name for e in entry_points(group="pytest11")}
    return [] if "leaflint" in names else ["-p", "leaflint.probe.pytest_plugin"]


@pytest.fixture(scope="module")
def odd_runs(tmp_path_factory):
    """The probe over ODD, in text mode with --verbose and in JSON mode without, and the pytest
    plugin over ODD_TEST with -v (one run each, started together)."""
    tmp = tmp_path_factory.mktemp("odd")
    (tmp / "odd.py").write_text(ODD)
    (tmp / "test_odd.py").write_text(ODD_TEST)
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("PYTEST_ADDOPTS", None)
    probe = [sys.executable, "-m", "leaflint.probe.cli", "--select", "LL301"]
    commands = {"verbose": probe + ["--verbose", "odd.py"],
                "json": probe + ["--output-format", "json", "odd.py"],
                "plugin": [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", *_plugin_args(),
                           "--leaflint-probe", "--leaflint-probe-select", "LL301", "test_odd.py"]}
    procs = {name: subprocess.Popen(command, cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True)
             for name, command in commands.items()}
    return {name: (proc, *proc.communicate(timeout=HANG_GUARD)) for name, proc in procs.items()}


def test_a_failing_hook_is_counted_and_shown_with_verbose(odd_runs):
    proc, out, err = odd_runs["verbose"]
    assert "program finished" in out, out + err  # the program ran on
    assert "probe warning: the monitor failed 1 time (events may be missing)" in out, out
    assert ("monitor error in Parameter registration hook (pid " in out
            and "ValueError: named_modules is not for you" in out), out


def test_without_verbose_the_count_and_the_hint(odd_runs):
    proc, out, err = odd_runs["json"]
    assert "probe warning: the monitor failed 1 time (events may be missing); --verbose shows where" in err, err
    assert "named_modules is not for you" not in err
    json.loads(out)  # the report itself is unchanged in shape


def test_the_pytest_plugin_counts_the_failures_and_shows_them_with_v(odd_runs):
    proc, out, err = odd_runs["plugin"]
    assert proc.returncode == 0 and "1 passed" in out, out + err  # the test ran on
    assert "leaflint probe" in out, out
    assert "probe warning: the monitor failed 1 time (events may be missing)" in out, out
    assert "--verbose shows where" not in out
    assert ("monitor error in Parameter registration hook (pid " in out
            and "ValueError: named_modules is not for you" in out), out


# ------------------------------------------------------------------ in process


@pytest.fixture
def probe_state(tmp_path, monkeypatch):
    st = state.ProbeState(AppendFile(str(tmp_path), "events-", ".jsonl"), Project(str(tmp_path)), False)
    monkeypatch.setattr(state, "STATE", st)
    return st


def test_the_first_failures_carry_their_message_then_powers_of_two_then_the_total(tmp_path, probe_state):
    for i in range(11):
        state.failed("hook", RuntimeError(f"boom {i}"))
    state.write_failure_total()
    records = read_events(str(tmp_path))
    errors = [r for r in records if r["k"] == schema.MONITOR_ERROR]
    assert [r["n"] for r in errors] == [1, 2, 3, 4, 5, 8, 11]
    assert [r.get("error") for r in errors[:5]] == [f"RuntimeError: boom {i}" for i in range(5)]
    assert all("error" not in r for r in errors[5:])
    assert all(schema.check(r) == [] for r in records)
    state.write_failure_total()  # nothing new: no new record
    assert len(read_events(str(tmp_path))) == len(records)


def test_the_run_sums_processes_and_lists_the_messages():
    events = [
        {"k": schema.MONITOR_ERROR, "pid": 1, "n": 1, "where": "a", "error": "E: x"},
        {"k": schema.MONITOR_ERROR, "pid": 1, "n": 9},
        {"k": schema.MONITOR_ERROR, "pid": 2, "n": 1, "where": "b", "error": "E: y"},
    ]
    run = runner.RunResult(command=["python", "x.py"], returncode=0, events=events)
    assert run.monitor_errors == (10, events[::2])
    quiet = report.run_summary(run)
    assert "probe warning: the monitor failed 10 times (events may be missing); --verbose shows where" in quiet
    loud = report.run_summary(run, verbose=True)
    assert "  monitor error in b (pid 2): E: y" in loud and "  monitor error in a (pid 1): E: x" in loud
    clean = runner.RunResult(command=["python", "x.py"], returncode=0, events=[])
    assert not any("monitor failed" in line for line in report.run_summary(clean, verbose=True))
    # the pytest plugin's summary: the same count from the events alone
    assert runner.monitor_errors(events) == run.monitor_errors
    assert report.monitor_error_lines(*runner.monitor_errors(events)) == [
        "probe warning: the monitor failed 10 times (events may be missing); --verbose shows where"]
    assert report.monitor_error_lines(*runner.monitor_errors([])) == []

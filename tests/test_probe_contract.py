"""`leaflint probe` as users run it (issue 12): the exit-status contract, a killed run's events,
the user's frames, the run's scope, verdicts that claim harm, and no clock that depends on the
machine's speed (every timeout starts at a readiness file the program writes)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner
from probe_runs import Runs

pytest.importorskip("torch")

from leaflint.probe.cli import probe  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("PYTEST_ADDOPTS", None)
    return env


def _write(path, text):
    path.write_text(textwrap.dedent(text))
    return path


HANG = """\
    import sys
    import time
    import torch
    w = torch.randn(3, requires_grad=True)
    print("leaf made", flush=True)
    open(sys.argv[1], "w").close()
    time.sleep(600)
"""


CRASH = """\
    import torch
    w = torch.randn(3, requires_grad=True)

    w.add_(1)
"""

FAILS = """\
    import sys
    import torch
    w = torch.randn(3, requires_grad=True)
    with torch.no_grad():
        w.add_(1)
    sys.exit(3)
"""

TEST_FAILS = """\
    import torch


    def test_fails():
        w = torch.randn(3, requires_grad=True)
        assert w.sum() > 100
"""

TEST_CRASH = """\
    import torch


    def test_inplace_on_leaf():
        w = torch.randn(3, requires_grad=True)
        w.add_(1)
"""

HELPER_ONE = """\
    import torch
    import helper
    m = helper.Scale()
    with torch.no_grad():
        m.reset()
"""

HELPER = """\
    import torch
    import torch.nn as nn


    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.empty(4))

        def reset(self):
            self.weight.uniform_(-1, 1)

        def bump(self):
            self.weight.add_(1)
"""

UNRELATED = """\
    import torch
    w = torch.randn(3, requires_grad=True)
    w.sub_(1)
"""

SWAP = """\
    import torch
    import torch.nn as nn


    class Reset(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.ones(3))

        def forward(self, x):
            self.w = nn.Parameter(torch.ones(3))
            return x * self.w


    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.ones(3))
            self.f = nn.Parameter(torch.ones(3))

        def forward(self, x):
            self.w = nn.Parameter(self.w * self.f)
            return x * self.w


    Reset()(torch.ones(3))  # no optimizer, no graph behind the new value
    Scaled()(torch.ones(3)).sum().backward()
"""


@pytest.fixture(scope="module")
def contract_runs(tmp_path_factory):
    """Every run below but Ctrl-C's, started together (tests/probe_runs.py); tests that assert
    different things about the same command share its run."""
    runs = Runs(tmp_path_factory.mktemp("contract"))
    runs.add("fails", {"fails.py": FAILS}, ["fails.py"])
    runs.add("pytest_fails", {"test_it.py": TEST_FAILS}, ["-m", "pytest", "-q", "-p", "no:cacheprovider", "test_it.py"])
    runs.add("hang", {"hang.py": HANG}, ["--timeout", "0.5", "--ready-file", "{dir}/ready", "hang.py", "{dir}/ready"])
    runs.add("plain", {"plain.py": "print('no torch here')\n"}, ["plain.py"])
    runs.add("crash", {"crash.py": CRASH}, ["crash.py"])
    runs.add("pytest_crash", {"test_crash.py": TEST_CRASH},
             ["-m", "pytest", "-q", "-p", "no:cacheprovider", "test_crash.py"])
    runs.add("scope", {"one.py": HELPER_ONE, "helper.py": HELPER, "unrelated.py": UNRELATED},
             ["--output-format", "json", "one.py"])
    runs.add("root_file", {"one.py": CRASH, "unrelated.py": CRASH}, ["--root", "one.py", "one.py"])
    runs.add("reads", {"reads.py": DATA_READS}, ["--output-format", "json", "--select", "LL203", "reads.py"])
    runs.add("swap", {"swap.py": SWAP}, ["--output-format", "json", "--select", "LL301", "swap.py"])
    yield runs
    runs.close()


# ------------------------------------------------------------------ 1. exit status


def test_the_programs_failure_is_the_probes_failure(contract_runs):
    proc = contract_runs["fails"]
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "exit status 3" in proc.stdout and "0 confirmed" in proc.stdout


def test_failing_tests_under_dash_m_pytest_fail_the_probe(contract_runs):
    proc = contract_runs["pytest_fails"]
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "1 failed" in proc.stdout and "exit status 1" in proc.stdout


@pytest.mark.parametrize("args, why", [
    (["no_such_script.py"], "can't open file"),
    (["-m", "no_such_module_xyz"], "No module named no_such_module_xyz"),
])
def test_a_program_that_cannot_start_exits_2(tmp_path, monkeypatch, args, why):
    """The CLI in process (the child it starts stops before any program runs)."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(probe, args)
    assert result.exit_code == 2, result.output
    assert "could not start" in result.stderr and why in result.stderr
    assert "not reached" not in result.stdout  # no report pretending the run happened


def test_a_timeout_is_never_exit_0(contract_runs):
    proc = contract_runs["hang"]
    assert proc.returncode == 124, proc.stdout + proc.stderr
    assert "timed out after" in proc.stdout


def test_ctrl_c_to_the_process_group_is_never_exit_0(tmp_path):
    """SIGINT to the probe's process group, as a terminal sends it: the program is stopped,
    the report is printed, the exit status is 130."""
    _write(tmp_path / "hang.py", HANG)
    ready = tmp_path / "ready"
    proc = subprocess.Popen([sys.executable, "-m", "leaflint.probe.cli", "hang.py", str(ready)], cwd=tmp_path,
                            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        while not ready.exists():  # readiness, not a clock
            if proc.poll() is not None:
                pytest.fail(proc.communicate()[1])
            try:
                proc.wait(timeout=0.1)
            except subprocess.TimeoutExpired:
                pass
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, out + err
    assert "interrupted by SIGINT" in out and "events from 1 process" in out


# ------------------------------------------------------------------ 2. a killed run's events


def test_a_killed_run_keeps_its_events(contract_runs):
    """Imported torch, made a leaf, printed, hung, killed at --timeout: the process was
    monitored (its record was written as it happened), and no false warning."""
    proc = contract_runs["hang"]
    assert "leaf made" in proc.stdout
    assert "events from 1 process" in proc.stdout, proc.stdout
    assert "never imported torch" not in proc.stderr


def test_the_never_imported_torch_warning_when_true(contract_runs):
    proc = contract_runs["plain"]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "never imported torch" in proc.stderr


# ------------------------------------------------------------------ 3. the user's frames




def test_a_crash_is_reported_at_the_users_line(contract_runs):
    proc = contract_runs["crash"]
    assert proc.returncode == 1
    assert "a leaf Variable that requires grad is being used in an in-place operation. at crash.py:4)" in proc.stdout
    trace = proc.stderr[proc.stderr.index("Traceback"):]
    assert 'crash.py", line 4, in <module>' in trace
    assert "leaflint" not in trace and "runpy" not in trace and "__torch_function__" not in trace, trace


def test_pytest_shows_the_users_lines_not_the_probes(contract_runs):
    proc = contract_runs["pytest_crash"]
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "w.add_(1)" in proc.stdout and "1 failed" in proc.stdout
    pytest_part = proc.stdout[:proc.stdout.index("leaflint probe: ran")]
    assert "leaflint" not in pytest_part and "monitor.py" not in pytest_part, pytest_part
    assert "__torch_function__" not in pytest_part, pytest_part


# ------------------------------------------------------------------ 4. scope


def test_not_reached_only_in_files_the_run_executed(contract_runs):
    proc = contract_runs["scope"]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    verdicts = {(d["filename"], d["location"]["row"]): d["verdict"] for d in json.loads(proc.stdout)}
    # helper.py was imported (executed in part): its unreached line is not-reached;
    # unrelated.py never ran: its finding is left out, and counted
    assert verdicts == {("helper.py", 11): "refuted", ("helper.py", 14): "not-reached"}
    assert "1 finding in 1 file the run never executed left out" in proc.stderr


def test_root_may_be_a_file(contract_runs):
    proc = contract_runs["root_file"]
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "4:1: LL101 [confirmed]" in proc.stdout and "unrelated.py" not in proc.stdout
    assert "left out" not in proc.stdout  # only one.py was ever in scope


# ------------------------------------------------------------------ 5. verdicts about harm


DATA_READS = """\
    import torch
    import torch.nn as nn
    import torch.nn.functional as F


    class MaxNorm(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.randn(3, 4))

        def forward(self, x):
            self.weight.data = torch.renorm(self.weight.data, 2, 0, 1.0)
            return F.linear(x, self.weight)


    class Binarized(nn.Linear):
        def forward(self, x):
            if not hasattr(self.weight, "org"):
                self.weight.org = self.weight.data.clone()
            self.weight.data = torch.sign(self.weight.org)
            return F.linear(x, self.weight)


    class Frozen(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.randn(3, 4))
            self.bias = nn.Parameter(torch.zeros(3))

        def forward(self, x):
            return x @ self.weight.data.t() + self.bias


    class Scored(Frozen):
        def forward(self, x):
            return x @ self.weight.data.t() + self.bias


    x = torch.randn(2, 4)
    for m in (MaxNorm(), Binarized(4, 3), Frozen()):
        for step in range(2):
            m(x).sum().backward()
    with torch.no_grad():
        pass
    Scored()(x)  # the graph is built, never backpropagated
"""


def test_ll203_confirmed_only_when_a_backward_lost_the_gradient(contract_runs):
    proc = contract_runs["reads"]
    data = {d["location"]["row"]: d for d in json.loads(proc.stdout) if d["code"] == "LL203"}
    # max-norm write-back: the static check does not flag a read that only feeds a `.data`
    # write of the same tensor, and the probe reports no missed event for it either
    assert 12 not in data, data.get(12)
    assert data[19]["verdict"] == "refuted", data[19]  # a kept copy for a binarised layer
    assert "never reached a computation autograd records" in data[19]["evidence"]
    assert data[31]["verdict"] == "confirmed", data[31]
    assert "its grad is None after the backward" in data[31]["evidence"]
    assert "reads.py:42" in data[31]["evidence"]  # the backward that lost it
    assert data[36]["verdict"] == "refuted" and "no backward() ran through" in data[36]["evidence"]
    assert proc.returncode == 1  # one confirmed


def test_ll301_confirmed_only_with_evidence_of_a_lost_gradient(contract_runs):
    proc = contract_runs["swap"]
    data = {d["location"]["row"]: d for d in json.loads(proc.stdout)}
    assert data[11]["verdict"] == "refuted" and "no lost gradient was observed" in data[11]["evidence"], data[11]
    assert data[22]["verdict"] == "confirmed" and "get no gradient" in data[22]["evidence"], data[22]

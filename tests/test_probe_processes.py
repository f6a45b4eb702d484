"""The probe across processes: -m pytest, the pytest plugin, forked DataLoader workers, torchrun."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points

import pytest
from probe_runs import Runs

pytest.importorskip("torch")

from leaflint.checking import check_paths  # noqa: E402
from leaflint.probe import reconcile, runner, schema  # noqa: E402
from leaflint.probe.cli import targets_of  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("PYTEST_ADDOPTS", None)
    return env


TEST_FILE = '''\
import torch


def test_sgd_step_without_no_grad():
    w = torch.randn(3, requires_grad=True)
    w.sum().backward()
    try:
        w -= 0.1 * w.grad
    except RuntimeError:
        pass


def test_fine():
    w = torch.randn(3, requires_grad=True)
    with torch.no_grad():
        w -= 1
'''


def _write(path, text):
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture(scope="module")
def process_runs(tmp_path_factory):
    """The runs below that start their own interpreters, started together (tests/probe_runs.py)."""
    runs = Runs(tmp_path_factory.mktemp("processes"))
    runs.add("dash_m_pytest", {"test_train.py": TEST_FILE},
             ["--output-format", "json", "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_train.py"])
    runs.add_command("plugin", {"test_train.py": TEST_FILE},
                     [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *_plugin_args(),
                      "--leaflint-probe", "--leaflint-probe-output={dir}/report.json", "test_train.py"])
    runs.add_command("plugin_inert", {"test_x.py": "def test_x():\n    assert True\n"},
                     [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *_plugin_args(), "test_x.py"])
    runs.add("torchrun", {"ddp.py": TORCHRUN},
             ["--timeout", "150", "--output-format", "json", "-m", "torch.distributed.run", "--standalone",
              "--nproc_per_node=2", "ddp.py"])
    runs.add("threads", {"thr.py": THREADS}, ["--output-format", "json", "thr.py"])
    yield runs
    runs.close()


def test_dash_m_pytest(process_runs):
    proc = process_runs["dash_m_pytest"]
    assert proc.returncode == 1, proc.stdout + proc.stderr
    data = json.loads(proc.stdout)
    by_row = {d["location"]["row"]: d for d in data}
    assert by_row[8]["verdict"] == "confirmed"
    assert "test test_train.py::test_sgd_step_without_no_grad" in by_row[8]["evidence"]
    assert by_row[16]["verdict"] == "refuted" if 16 in by_row else True
    assert "2 passed" in proc.stderr  # pytest's own output went to stderr in json mode


def _plugin_args():
    names = {e.name for e in entry_points(group="pytest11")}
    return [] if "leaflint" in names else ["-p", "leaflint.probe.pytest_plugin"]


def test_pytest_plugin(process_runs):
    proc = process_runs["plugin"]
    out = process_runs.base / "plugin" / "report.json"
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "leaflint probe" in proc.stdout and "[confirmed]" in proc.stdout
    data = json.loads(out.read_text())
    [hit] = [d for d in data if d["verdict"] == "confirmed"]
    assert hit["location"]["row"] == 8 and hit["code"] == "LL102"
    assert "test_train.py::test_sgd_step_without_no_grad" in hit["evidence"]


def test_pytest_plugin_is_inert_without_flag(process_runs):
    proc = process_runs["plugin_inert"]
    assert proc.returncode == 0 and "leaflint probe" not in proc.stdout
    code = ("import sys, leaflint.probe.pytest_plugin; "
            "assert 'torch' not in sys.modules and 'libcst' not in sys.modules")
    assert subprocess.run([sys.executable, "-c", code], env=_env()).returncode == 0


DATALOADER = '''\
import os
import torch
from torch.utils.data import DataLoader, Dataset

w = torch.randn(3, requires_grad=True)


class Noisy(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        try:
            w.add_(1)
        except RuntimeError:
            pass
        return torch.tensor([float(os.getpid())])


if __name__ == "__main__":
    loader = DataLoader(Noisy(), batch_size=2, num_workers=2,
                        multiprocessing_context="fork", persistent_workers=False)
    pids = {int(b[0, 0]) for b in loader}
    print("worker pids", sorted(pids))
'''


def test_dataloader_forked_workers(tmp_path):
    _write(tmp_path / "load.py", DATALOADER)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        static = check_paths(["."])
        run = runner.run("load.py", [], root=".", timeout=120, targets=targets_of(static.findings),
                         stdout=subprocess.PIPE)
    finally:
        os.chdir(cwd)
    assert run.returncode == 0, run.status_text()
    procs = {p["pid"] for p in run.processes}
    hits = [e for e in run.events if e.get("k") == "inplace" and e.get("codes")]
    assert len({e["pid"] for e in hits}) == 2, hits  # both forked workers reported
    assert len(procs) == 3  # the parent is monitored once it imports torch; each worker writes its own
    assert not [problem for e in run.events for problem in schema.check(e)]  # forked writers too
    result = reconcile.reconcile(static.findings, run.events, run.coverage, cwd=str(tmp_path))
    [v] = [v for v in result.verdicts if v.finding.location.row == 14]
    assert v.verdict == "confirmed"


TORCHRUN = '''\
import os
import torch
import torch.distributed as dist

dist.init_process_group("gloo")
rank = dist.get_rank()
w = torch.randn(3, requires_grad=True)
try:
    if rank == 0:
        w.add_(1)
    else:
        w.mul_(2)
except RuntimeError:
    pass
t = torch.ones(1) * rank
dist.all_reduce(t)
dist.destroy_process_group()
'''


def test_torchrun_two_ranks_one_report(process_runs):
    proc = process_runs["torchrun"]
    assert proc.returncode == 1, proc.stdout + proc.stderr
    data = json.loads(proc.stdout)
    by_row = {d["location"]["row"]: d for d in data}
    assert by_row[10]["verdict"] == "confirmed" and "rank 0" in by_row[10]["evidence"]
    assert by_row[12]["verdict"] == "confirmed" and "rank 1" in by_row[12]["evidence"]
    assert "(ranks 0, 1)" in proc.stderr


THREADS = '''\
import threading
import torch

w = torch.randn(3, requires_grad=True)


def work():
    try:
        w.add_(1)
    except RuntimeError:
        pass


t = threading.Thread(target=work, name="worker-1")
t.start()
t.join()
'''


def test_threads_are_monitored(process_runs):
    proc = process_runs["threads"]
    data = json.loads(proc.stdout)
    [d] = [d for d in data if d["location"]["row"] == 9]
    assert d["verdict"] == "confirmed" and "thread worker-1" in d["evidence"]

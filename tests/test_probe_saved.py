"""The LL4 probe (leaflint/probe/saved.py) on small programs: the write line, the save line, the
name, the version history; behaviour unchanged; `.data` aliases; torch.func; threads; memory."""

from __future__ import annotations

import json
import subprocess

import pytest
from probe_runs import Runs

pytest.importorskip("torch")

PROGRAMS: dict[str, str] = {}  # file name -> source, registered by @program next to its test


def program(name: str, source: str):
    """Register the program a test asserts on: ``saved_runs`` starts them all together."""
    PROGRAMS[name] = source
    return lambda test: test


@pytest.fixture(scope="module")
def saved_runs(tmp_path_factory):
    """Every registered program under ``leaflint probe --output-format json`` with the LL4 rules
    selected, started together (tests/probe_runs.py); ``saved_runs(name)`` is (process, report)."""
    runs = Runs(tmp_path_factory.mktemp("saved"))
    for name, source in PROGRAMS.items():
        runs.add(name, {name: source}, ["--output-format", "json", "--select", "LL1,LL201,LL203,LL3,LL4", name])

    def result(name: str) -> tuple[subprocess.CompletedProcess, list]:
        proc = runs[name]
        try:
            return proc, json.loads(proc.stdout)
        except json.JSONDecodeError:
            return proc, []

    yield result
    runs.close()


def _by_code(data, code):
    return [d for d in data if d["code"] == code]


@program("gan.py", """\
        import torch
        import torch.nn as nn
        G = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 2))
        D = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1))
        opt_D = torch.optim.SGD(D.parameters(), lr=0.1)
        out = D(G(torch.randn(8, 2)))
        loss_D = out.mean()
        loss_D.backward(retain_graph=True)
        opt_D.step()
        loss_G = -out.mean()
        try:
            loss_G.backward()
        except RuntimeError as exc:
            print("RAISED", exc)
""")
def test_gan_step_names_parameter_write_save_and_backward(saved_runs):
    proc, data = saved_runs("gan.py")
    assert "RAISED one of the variables needed for gradient computation" in proc.stderr, proc.stderr
    confirmed = [d for d in _by_code(data, "LL403") if d["verdict"] == "confirmed"]
    assert confirmed, (proc.stdout, proc.stderr)
    evidence = confirmed[0]["evidence"]
    assert confirmed[0]["location"]["row"] == 9
    assert "`D.2.weight`" in evidence and "gan.py:6" in evidence and "gan.py:12" in evidence
    assert "version 1 -> 2" in evidence


@program("out.py", """\
        import torch
        x = torch.randn(3, requires_grad=True)
        y = torch.sigmoid(x)
        y.mul_(2)
        try:
            y.sum().backward()
        except RuntimeError as exc:
            print("RAISED", exc)
        else:
            print("NO ERROR")
""")
def test_error_still_raised_and_names_the_write(saved_runs):
    proc, data = saved_runs("out.py")
    # the program's own output goes to stderr when the report is JSON on stdout
    assert "NO ERROR" not in proc.stderr
    assert "RAISED one of the variables needed for gradient computation has been modified by an inplace " \
           "operation" in proc.stderr
    assert "written by `mul_` at out.py:4" in proc.stderr
    assert [(d["verdict"], d["location"]["row"]) for d in _by_code(data, "LL401")] == [("confirmed", 4)]


@program("alias.py", """\
        import torch
        x = torch.randn(3, requires_grad=True)
        y = torch.sigmoid(x)
        c = y.data
        c.zero_()
        y.sum().backward()
        print("GRAD", x.grad.tolist())
""")
def test_write_through_data_alias_is_reported_as_silent(saved_runs):
    proc, data = saved_runs("alias.py")
    assert "GRAD [0.0, 0.0, 0.0]" in proc.stderr  # the silently wrong gradient, unchanged by the probe
    rows = [(d["code"], d["location"]["row"]) for d in data if d["verdict"] in ("missed", "confirmed")]
    assert ("LL201", 5) in rows, data


@program("func.py", """\
        import torch
        from torch.func import grad

        def f(a):
            b = a.exp()
            b.mul_(2)
            return b.sum()

        print("OK", grad(lambda a: a.sin().sum())(torch.zeros(2)).tolist())
        try:
            grad(f)(torch.randn(3))
        except RuntimeError as exc:
            print("RAISED", "modified by an inplace operation" in str(exc))
""")
def test_torch_func_runs_and_the_fallback_matches_the_message(saved_runs):
    proc, data = saved_runs("func.py")
    assert "OK [1.0, 1.0]" in proc.stderr, proc.stderr  # torch.func runs under the probe
    assert "RAISED True" in proc.stderr
    fallback = [d for d in data if d["location"]["row"] == 6 and d["code"].startswith("LL4")]
    assert fallback and "matched by shape and version" in fallback[0]["evidence"]


@program("fine.py", """\
        import torch
        import torch.nn as nn
        model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
        opt = torch.optim.Adam(model.parameters())
        for _ in range(3):
            loss = model(torch.randn(5, 3)).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        y = torch.sigmoid(torch.randn(3, requires_grad=True)).clone()
        y.mul_(2)
        y.sum().backward()
""")
def test_look_alikes_give_no_event(saved_runs):
    proc, data = saved_runs("fine.py")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [d for d in data if d["code"].startswith("LL4")] == []


@program("mem.py", """\
        import gc
        import torch
        import torch.nn as nn
        from leaflint.probe import monitor
        net = nn.Linear(64, 64)
        for _ in range(2000):
            out = torch.tanh(net(torch.randn(32, 64)))
        del out
        gc.collect()
        print("LIVE", len(monitor.saved_tracker().saved), len(monitor.saved_tracker().writes))
""")
def test_graphs_never_backpropagated_are_released(saved_runs):
    proc, _ = saved_runs("mem.py")
    live = [line for line in proc.stderr.splitlines() if line.startswith("LIVE")]
    assert live, proc.stdout + proc.stderr
    assert int(live[0].split()[1]) <= 4  # the parameters' storages at most, not one per graph


@program("thread.py", """\
        import threading
        import torch

        def work():
            x = torch.randn(3, requires_grad=True)
            y = torch.exp(x)
            y.add_(1)
            try:
                y.sum().backward()
            except RuntimeError:
                pass

        t = threading.Thread(target=work)
        t.start()
        t.join()
""")
def test_writes_in_a_thread_are_seen(saved_runs):
    proc, data = saved_runs("thread.py")
    rows = [(d["code"], d["location"]["row"], d["verdict"]) for d in data]
    assert ("LL401", 7, "confirmed") in rows, (rows, proc.stderr)

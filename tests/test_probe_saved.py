"""The LL4 probe (leaflint/probe/saved.py) on small programs: the write line, the save line, the
name, the version history; behaviour unchanged; `.data` aliases; torch.func; threads; memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("torch")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _probe(tmp_path, name: str, source: str, *args: str) -> tuple[subprocess.CompletedProcess, list]:
    (tmp_path / name).write_text(textwrap.dedent(source), encoding="utf-8")
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-m", "leaflint.probe.cli", "--output-format", "json", *(args if "--select" in args else ("--select", "LL1,LL201,LL203,LL3,LL4", *args)), name],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError:
        data = []
    return proc, data


def _by_code(data, code):
    return [d for d in data if d["code"] == code]


def test_gan_step_names_parameter_write_save_and_backward(tmp_path):
    proc, data = _probe(tmp_path, "gan.py", """\
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
    assert "RAISED one of the variables needed for gradient computation" in proc.stderr, proc.stderr
    confirmed = [d for d in _by_code(data, "LL403") if d["verdict"] == "confirmed"]
    assert confirmed, (proc.stdout, proc.stderr)
    evidence = confirmed[0]["evidence"]
    assert confirmed[0]["location"]["row"] == 9
    assert "`D.2.weight`" in evidence and "gan.py:6" in evidence and "gan.py:12" in evidence
    assert "version 1 -> 2" in evidence


def test_error_still_raised_and_names_the_write(tmp_path):
    proc, data = _probe(tmp_path, "out.py", """\
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
    # the program's own output goes to stderr when the report is JSON on stdout
    assert "NO ERROR" not in proc.stderr
    assert "RAISED one of the variables needed for gradient computation has been modified by an inplace " \
           "operation" in proc.stderr
    assert "written by `mul_` at out.py:4" in proc.stderr
    assert [(d["verdict"], d["location"]["row"]) for d in _by_code(data, "LL401")] == [("confirmed", 4)]


def test_write_through_data_alias_is_reported_as_silent(tmp_path):
    proc, data = _probe(tmp_path, "alias.py", """\
        import torch
        x = torch.randn(3, requires_grad=True)
        y = torch.sigmoid(x)
        c = y.data
        c.zero_()
        y.sum().backward()
        print("GRAD", x.grad.tolist())
    """)
    assert "GRAD [0.0, 0.0, 0.0]" in proc.stderr  # the silently wrong gradient, unchanged by the probe
    rows = [(d["code"], d["location"]["row"]) for d in data if d["verdict"] in ("missed", "confirmed")]
    assert ("LL201", 5) in rows, data


def test_torch_func_runs_and_the_fallback_matches_the_message(tmp_path):
    proc, data = _probe(tmp_path, "func.py", """\
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
    assert "OK [1.0, 1.0]" in proc.stderr, proc.stderr  # torch.func runs under the probe
    assert "RAISED True" in proc.stderr
    fallback = [d for d in data if d["location"]["row"] == 6 and d["code"].startswith("LL4")]
    assert fallback and "matched by shape and version" in fallback[0]["evidence"]


def test_look_alikes_give_no_event(tmp_path):
    proc, data = _probe(tmp_path, "fine.py", """\
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
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [d for d in data if d["code"].startswith("LL4")] == []


def test_graphs_never_backpropagated_are_released(tmp_path):
    proc, _ = _probe(tmp_path, "mem.py", """\
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
    live = [line for line in proc.stderr.splitlines() if line.startswith("LIVE")]
    assert live, proc.stdout + proc.stderr
    assert int(live[0].split()[1]) <= 4  # the parameters' storages at most, not one per graph


def test_writes_in_a_thread_are_seen(tmp_path):
    proc, data = _probe(tmp_path, "thread.py", """\
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
    rows = [(d["code"], d["location"]["row"], d["verdict"]) for d in data]
    assert ("LL401", 7, "confirmed") in rows, (rows, proc.stderr)

"""Overhead of the LL4 saved-tensor tracking (leaflint/probe/saved.py) on a small CPU training loop.

    python bench/probe_saved_overhead.py [--rounds 5] [--steps 300] [--json FILE]

Three configurations, interleaved (plain, probe without LL4 tracking, probe with it), ``--rounds``
times each; the median over rounds of the per-step medians that the training loop itself
measures after warm-up, by wall clock and by the thread's CPU time. The loop is
``bench/probe_overhead.py``'s (a 3-layer MLP, SGD with momentum), run from this file so that it
sits under the probe's ``--root``. ``LEAFLINT_PROBE_SAVED=0`` turns the tracking off.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def train(steps: int, warmup: int, batch: int, width: int) -> None:
    """``bench/probe_overhead.py``'s loop, timing each step by wall clock and by this thread's CPU
    time (the latter is far less disturbed by other jobs on a shared machine)."""
    import torch
    import torch.nn as nn

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                          nn.Linear(width, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.randn(batch, width)
    y = torch.randint(0, 10, (batch,))
    wall, cpu = [], []
    for step in range(warmup + steps):
        t0, c0 = time.perf_counter(), time.thread_time()
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        t1, c1 = time.perf_counter(), time.thread_time()
        if step >= warmup:
            wall.append(t1 - t0)
            cpu.append(c1 - c0)
    print("BENCH " + json.dumps({"step_median_s": statistics.median(wall),
                                 "cpu_median_s": statistics.median(cpu)}), flush=True)


def _run(cmd: list[str]) -> tuple[float, float]:
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    for line in (proc.stdout + proc.stderr).splitlines():
        if line.startswith("BENCH "):
            data = json.loads(line[6:])
            return data["step_median_s"], data["cpu_median_s"]
    raise SystemExit(f"benchmark run failed: {cmd}\n{proc.stdout}\n{proc.stderr}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--json", help="also write the results to this file")
    a = ap.parse_args()
    train_args = ["--train", "--steps", str(a.steps), "--warmup", str(a.warmup),
                  "--batch", str(a.batch), "--width", str(a.width)]
    if a.train:
        train(a.steps, a.warmup, a.batch, a.width)
        return
    me = os.path.abspath(__file__)
    plain = [sys.executable, me, *train_args]
    probed = [sys.executable, "-m", "leaflint.probe.cli", "--root", HERE, "--output-format", "json",
              me, *train_args]
    configs = {"plain": (plain, "1"), "probe, LL4 off": (probed, "0"), "probe, LL4 on": (probed, "1")}
    walls: dict[str, list[float]] = {name: [] for name in configs}
    cpus: dict[str, list[float]] = {name: [] for name in configs}
    _run(plain)  # warm the file cache
    load = [os.getloadavg()[0]]
    for _ in range(a.rounds):
        for name, (cmd, saved) in configs.items():
            os.environ["LEAFLINT_PROBE_SAVED"] = saved
            wall, cpu = _run(cmd)
            walls[name].append(wall)
            cpus[name].append(cpu)
        load.append(os.getloadavg()[0])
    os.environ.pop("LEAFLINT_PROBE_SAVED", None)
    out = {"python": sys.version.split()[0], "load_average": [min(load), max(load)],
           "config": {"rounds": a.rounds, "steps": a.steps, "batch": a.batch, "width": a.width}}
    base_wall, base_cpu = statistics.median(walls["plain"]), statistics.median(cpus["plain"])
    for name in configs:
        wall, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
        out[name] = {"step_ms": round(wall * 1e3, 3), "ratio": round(wall / base_wall, 3),
                     "cpu_step_ms": round(cpu * 1e3, 3), "cpu_ratio": round(cpu / base_cpu, 3)}
    print(json.dumps(out, indent=2))
    if a.json:
        with open(a.json, "w", encoding="utf-8") as fh:
            json.dump(out, fh, indent=2)


if __name__ == "__main__":
    main()

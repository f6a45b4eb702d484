"""Overhead of `leaflint probe` on a small CPU MLP training loop.

    python bench/probe_overhead.py [--rounds 5] [--steps 300] [--json FILE]

Runs the same training program plain (``python this_file --train``) and probed
(``python -m leaflint.probe.cli --root bench this_file --train``), interleaved
(plain, probed, plain, probed, ...), ``--rounds`` times each, and reports the median of:

* step time: the median wall time of one optimizer step inside the program (after
  warm-up), measured by the program itself;
* whole process: wall time of the whole command, from start to exit (for the probe:
  the static check of ``--root``, the child process, reconciliation and the report).

The training loop lives in this file, under the probe's ``--root``, so it is traced for
line coverage and its ops are attributed to project frames, as a user's script would be.
``bench/probe_saved_overhead.py`` runs the same loop through ``train``, ``loop_arguments``,
``commands`` and ``run``.
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
    """The benchmarked loop: a 3-layer MLP, SGD with momentum. Prints the median step time after
    warm-up by wall clock and by this thread's CPU time (the latter is far less disturbed by
    other jobs on a shared machine)."""
    import torch
    import torch.nn as nn

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(width, width), nn.ReLU(),
        nn.Linear(width, width), nn.ReLU(),
        nn.Linear(width, 10),
    )
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


def loop_arguments(description: str | None = None) -> argparse.Namespace:
    """The command line shared by the probe benchmarks (``--train`` runs the loop itself)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--train", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--json", help="also write the results to this file")
    return ap.parse_args()


def commands(script: str, a: argparse.Namespace) -> tuple[list[str], list[str]]:
    """(plain, probed) commands that run ``script --train`` with the loop's settings; the script
    sits under the probe's ``--root`` (this directory), as a user's script would."""
    train_args = ["--train", "--steps", str(a.steps), "--warmup", str(a.warmup),
                  "--batch", str(a.batch), "--width", str(a.width)]
    me = os.path.abspath(script)
    plain = [sys.executable, me, *train_args]
    probed = [sys.executable, "-m", "leaflint.probe.cli", "--root", HERE, "--output-format", "json",
              me, *train_args]
    return plain, probed


def run(cmd: list[str], env: dict | None = None) -> dict[str, float]:
    """One run of ``cmd``: the loop's median step (``step``, wall; ``cpu``, thread CPU time) and the
    whole command's wall time (``whole``)."""
    full_env = dict(os.environ)
    full_env.setdefault("OMP_NUM_THREADS", "1")
    full_env.update(env or {})
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=full_env, capture_output=True, text=True)
    whole = time.perf_counter() - t0
    for line in (proc.stdout + proc.stderr).splitlines():
        if line.startswith("BENCH "):
            data = json.loads(line[6:])
            return {"step": data["step_median_s"], "cpu": data["cpu_median_s"], "whole": whole}
    raise SystemExit(f"benchmark run failed: {cmd}\n{proc.stdout}\n{proc.stderr}")


def main() -> None:
    a = loop_arguments()
    if a.train:
        train(a.steps, a.warmup, a.batch, a.width)
        return
    plain, probed = commands(__file__, a)
    res = {"plain": {"step": [], "whole": []}, "probed": {"step": [], "whole": []}}
    run(plain)  # warm the file cache
    for _ in range(a.rounds):
        for name, cmd in (("plain", plain), ("probed", probed)):
            one = run(cmd)
            res[name]["step"].append(one["step"])
            res[name]["whole"].append(one["whole"])
    out = {
        "python": sys.version.split()[0],
        "config": {"rounds": a.rounds, "steps": a.steps, "batch": a.batch, "width": a.width,
                   "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")},
    }
    for name in res:
        out[name] = {
            "step_ms": round(statistics.median(res[name]["step"]) * 1e3, 3),
            "whole_s": round(statistics.median(res[name]["whole"]), 3),
        }
    out["ratio"] = {
        "step": round(out["probed"]["step_ms"] / out["plain"]["step_ms"], 3),
        "whole": round(out["probed"]["whole_s"] / out["plain"]["whole_s"], 3),
    }
    print(json.dumps(out, indent=2))
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(out, fh, indent=2)


if __name__ == "__main__":
    main()

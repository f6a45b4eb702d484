"""Overhead of the LL4 saved-tensor tracking (leaflint/probe/saved.py) on a small CPU training loop.

    python bench/probe_saved_overhead.py [--rounds 5] [--steps 300] [--json FILE]

Three configurations, interleaved (plain, probe without LL4 tracking, probe with it), ``--rounds``
times each; the median over rounds of the per-step medians that the training loop itself
measures after warm-up, by wall clock and by the thread's CPU time. The loop, the command line
and the runner are ``bench/probe_overhead.py``'s (a 3-layer MLP, SGD with momentum), run from
this file so that it sits under the probe's ``--root``. ``LEAFLINT_PROBE_SAVED=0`` turns the
tracking off.
"""

from __future__ import annotations

import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from probe_overhead import commands, loop_arguments, run, train  # noqa: E402


def main() -> None:
    a = loop_arguments()
    if a.train:
        train(a.steps, a.warmup, a.batch, a.width)
        return
    plain, probed = commands(__file__, a)
    configs = {"plain": (plain, "1"), "probe, LL4 off": (probed, "0"), "probe, LL4 on": (probed, "1")}
    walls: dict[str, list[float]] = {name: [] for name in configs}
    cpus: dict[str, list[float]] = {name: [] for name in configs}
    run(plain)  # warm the file cache
    load = [os.getloadavg()[0]]
    for _ in range(a.rounds):
        for name, (cmd, saved) in configs.items():
            one = run(cmd, {"LEAFLINT_PROBE_SAVED": saved})
            walls[name].append(one["step"])
            cpus[name].append(one["cpu"])
        load.append(os.getloadavg()[0])
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

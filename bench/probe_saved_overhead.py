"""Overhead of the LL4 saved-tensor tracking (leaflint/probe/saved.py) on a small CPU training loop.

    python bench/probe_saved_overhead.py [--rounds 5] [--steps 300] [--json FILE]

Three configurations, interleaved (plain, probe without LL4 tracking, probe with it), ``--rounds``
times each; the median of the per-step median wall time that the training loop itself measures
(after warm-up). The loop is ``bench/probe_overhead.py``'s (a 3-layer MLP, SGD with momentum),
run from this file so that it sits under the probe's ``--root``. ``LEAFLINT_PROBE_SAVED=0``
turns the tracking off.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from probe_overhead import _run, train  # noqa: E402


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
    steps: dict[str, list[float]] = {name: [] for name in configs}
    _run(plain)  # warm the file cache
    for _ in range(a.rounds):
        for name, (cmd, saved) in configs.items():
            os.environ["LEAFLINT_PROBE_SAVED"] = saved
            step, _ = _run(cmd)
            steps[name].append(step)
    os.environ.pop("LEAFLINT_PROBE_SAVED", None)
    out = {"python": sys.version.split()[0], "load_average": os.getloadavg()[0],
           "config": {"rounds": a.rounds, "steps": a.steps, "batch": a.batch, "width": a.width}}
    base = statistics.median(steps["plain"])
    for name, values in steps.items():
        median = statistics.median(values)
        out[name] = {"step_ms": round(median * 1e3, 3), "ratio": round(median / base, 3)}
    print(json.dumps(out, indent=2))
    if a.json:
        with open(a.json, "w", encoding="utf-8") as fh:
            json.dump(out, fh, indent=2)


if __name__ == "__main__":
    main()

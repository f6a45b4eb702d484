#!/usr/bin/env python3
"""Start-up latency of ``leaflint`` as pre-commit runs it: one file per invocation.

    python bench/latency.py                      # 21 interleaved rounds, this checkout
    python bench/latency.py --rounds 41 --compare /path/to/other/checkout --json out.json

Measures, as child processes started in a temporary directory, in interleaved rounds (every
command once per round, in turn), and reports the median wall time of each and its ratio to
the baseline ``python -c "import libcst, click"`` (what any libcst-based linter pays before
its first line of work):

* ``leaflint --version``;
* ``leaflint check FILE`` cold: ``--no-cache``, the file parsed and analysed;
* ``leaflint check FILE`` warm: the cache primed (``--cache-dir`` in the temporary directory),
  the case of a pre-commit run on files that did not change since the last run;
* ``leaflint check CLEAN`` cold: a file the prefilter skips (no torch word: CPython's parser
  only, for syntax errors);
* the parse floor: ``import libcst, click`` and ``libcst.parse_module`` of FILE, nothing else:
  what any check of a changed FILE built on a full libcst parse pays at least.

FILE is a generated PyTorch model-and-training file of about 2,000 lines (``--lines``):
modules with forward methods, parameter initialisation, a training loop; written fresh for
each run, so nothing depends on a corpus download. leaflint is imported from this checkout
(``PYTHONPATH``), or also from ``--compare`` for a before/after table. Bytecode is compiled
once before the rounds (as an installed package has it). Stdlib only.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

BLOCK = '''

class Block{i}(nn.Module):
    """A residual MLP block ({i})."""

    def __init__(self, dim, hidden, dropout=0.1):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.up = nn.Linear(dim, hidden)
        self.down = nn.Linear(hidden, dim)
        self.gate = nn.Parameter(torch.zeros(dim))
        self.drop = nn.Dropout(dropout)
        self.reset_parameters()

    def reset_parameters(self):
        nn.init.xavier_uniform_(self.up.weight)
        nn.init.zeros_(self.up.bias)
        nn.init.normal_(self.down.weight, std=0.02)
        nn.init.zeros_(self.down.bias)

    def forward(self, x):
        h = self.norm(x)
        h = F.gelu(self.up(h))
        h = self.drop(self.down(h))
        return x + torch.tanh(self.gate) * h


def schedule{i}(step, warmup=100, total=1000):
    if step < warmup:
        return step / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


@torch.no_grad()
def ema_update{i}(ema, model, decay=0.999):
    for e, p in zip(ema.parameters(), model.parameters()):
        e.mul_(decay).add_(p, alpha=1 - decay)


def train_step{i}(model, optimizer, batch, scaler=None):
    x, y = batch
    optimizer.zero_grad(set_to_none=True)
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    return loss.item()
'''

HEADER = '''"""A generated PyTorch model and training file (bench/latency.py)."""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
'''

CLEAN = '''"""Plain Python, none of the prefilter's words: CPython's parser only, no libcst."""


def fib(n):
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a
''' * 40


def model_file(lines: int) -> str:
    parts = [HEADER]
    i = 0
    while sum(p.count("\n") for p in parts) < lines:
        parts.append(BLOCK.format(i=i))
        i += 1
    return "".join(parts)


def timed(argv: list[str], env: dict, cwd: str) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--lines", type=int, default=2000)
    parser.add_argument("--compare", action="append", default=[], metavar="CHECKOUT",
                        help="also measure leaflint from this checkout (repeatable)")
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="leaflint-latency-")
    source = model_file(args.lines)
    Path(work, "model.py").write_text(source)
    Path(work, "clean.py").write_text(CLEAN)
    python = sys.executable
    base_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LEAFLINT_CACHE_DIR", "NO_COLOR")}
    commands: dict[str, tuple[list[str], dict]] = {
        "python -c 'import libcst, click' (baseline)": ([python, "-c", "import libcst, click"], base_env),
        "python -c 'import click'": ([python, "-c", "import click"], base_env),
        "python -c 'import libcst, click; libcst.parse_module(model.py)' (the parse floor)": (
            [python, "-c", "import libcst, click, pathlib; libcst.parse_module(pathlib.Path('model.py').read_text())"],
            base_env),
    }
    checkouts = [("this checkout", REPO)] + [(f"{Path(c).name} ({c})", Path(c).resolve()) for c in args.compare]
    for label, checkout in checkouts:
        env = dict(base_env, PYTHONPATH=str(checkout), PYTHONDONTWRITEBYTECODE="")
        subprocess.run([python, "-m", "compileall", "-q", str(checkout / "leaflint")], env=env, check=False)
        cache = os.path.join(work, f"cache-{len(commands)}")
        lint = [python, "-m", "leaflint"]
        warm = lint + ["check", "--isolated", "--cache-dir", cache, "model.py"]
        timed(warm, env, work)  # prime the cache
        commands[f"{label}: leaflint --version"] = (lint + ["--version"], env)
        commands[f"{label}: check model.py, cold (--no-cache)"] = (
            lint + ["check", "--isolated", "--no-cache", "model.py"], env)
        commands[f"{label}: check model.py, warm (cache hit)"] = (warm, env)
        commands[f"{label}: check clean.py (prefilter: CPython's parser only)"] = (
            lint + ["check", "--isolated", "--no-cache", "clean.py"], env)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.rounds):
        for name, (argv, env) in commands.items():
            times[name].append(timed(argv, env, work))
    base = statistics.median(next(iter(times.values())))
    print(f"model.py: {source.count(chr(10))} lines; {args.rounds} interleaved rounds; "
          f"load average before/after: see below\n")
    print("| command | median s | x baseline |")
    print("|---|---:|---:|")
    rows = []
    for name, values in times.items():
        median = statistics.median(values)
        rows.append({"command": name, "median_s": median, "ratio": median / base, "runs": values})
        print(f"| {name} | {median:.3f} | {median / base:.2f} |")
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"lines": source.count("\n"), "rounds": args.rounds,
                                               "results": rows}, indent=2))


if __name__ == "__main__":
    main()

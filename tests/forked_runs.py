"""Many programs under real torch at the cost of two torch imports.

``reports/_runner.py`` imports torch once, then runs each program in a fresh child forked from
it (``runpy.run_path(file, run_name="__main__")``, ``sys.argv == [file]``), with the child's own
stdout, stderr and exit code. Starting a fresh interpreter and importing torch costs seconds of
CPU per program; a fork costs milliseconds. What a program does to the interpreter (grad mode,
the RNG, attributes set on torch, modules imported) dies with its child: test_forked_runs.py
shows that, and that a forked run prints what a fresh ``python FILE`` prints.

A test module hands all its programs over at once (a module fixture): they are split into
``BATCHES`` runner processes that run side by side (two cores).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from hang_guard import HANG_GUARD

ROOT = Path(__file__).resolve().parents[1]
RUNNER = ROOT / "reports" / "_runner.py"
BATCHES = 2


def torch_env() -> dict[str, str]:
    """The environment a torch program runs in: no warnings noise, one thread, no compile, and
    no PYTHONPATH (the program must not see this checkout's modules by accident)."""
    env = dict(os.environ)
    env.update(PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1", TORCH_COMPILE_DISABLE="1")
    env.pop("PYTHONPATH", None)
    return env


def run_script(path: Path, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """``python FILE`` in a fresh interpreter (the reference a forked run is compared with)."""
    return subprocess.run([sys.executable, str(path)], cwd=cwd, env=torch_env(), capture_output=True, text=True,
                          timeout=HANG_GUARD, stdin=subprocess.DEVNULL)


def run_batch(paths: list[Path], cwd: Path = ROOT) -> dict[str, dict]:
    """One runner process over ``paths``: ``{absolute path: {"exit", "stdout", "stderr"}}``."""
    proc = subprocess.run([sys.executable, str(RUNNER), *map(str, paths)], cwd=cwd, env=torch_env(),
                          capture_output=True, text=True, timeout=HANG_GUARD, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    by_file = {r["file"]: r for r in results}
    assert sorted(by_file) == sorted(os.path.abspath(p) for p in paths), proc.stderr[-3000:]
    return by_file


def run_all(paths: list[Path], cwd: Path = ROOT, batches: int = BATCHES) -> dict[str, dict]:
    """Every program of ``paths``, in ``batches`` runner processes side by side."""
    parts = [paths[i::batches] for i in range(batches) if paths[i::batches]]
    merged: dict[str, dict] = {}
    with ThreadPoolExecutor(max_workers=len(parts) or 1) as pool:
        for part in pool.map(lambda batch: run_batch(batch, cwd), parts):
            merged.update(part)
    return merged


def describe(result: dict) -> str:
    return f"exit {result['exit']}\n--- stdout\n{result['stdout']}\n--- stderr\n{result['stderr'][-4000:]}"

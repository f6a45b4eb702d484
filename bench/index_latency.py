#!/usr/bin/env python3
"""The project index's cost: a whole project cold and warm, and one file with a warm index.

    python bench/index_latency.py                          # peft from the corpus, 5 rounds
    python bench/index_latency.py --project /path/to/proj --rounds 7 --json out.json
    python bench/index_latency.py --compare /work/main     # also the cold check of another checkout

The project is copied to a temporary directory (with a ``pyproject.toml``, so it is its own
root). Each round runs every command once, in turn (interleaved; child processes, ``--jobs 1``
so the figures do not depend on the other load's share of the cores); the table gives medians:

* bare parse: one process that imports libcst and runs ``libcst.parse_module`` on every file
  ``leaflint check`` discovers (the floor of any libcst-based checker);
* cold: ``leaflint check DIR`` with an empty cache directory (index built, every file parsed);
* warm: the same command again, every entry in the cache (no parse, no libcst import);
* one file, warm index: the cache primed by a whole-project run, then one file that imports
  other modules of the project edited (a comment appended, so its own entry misses) and
  checked alone, as pre-commit does; against ``python -c "import libcst, click"``.

Targets (issue 13): cold <= 1.5x bare parse; one file <= 1.5x the import; warm <= 0.05x cold.
Stdlib only; ``LEAFLINT_CORPUS_DIR`` (default /work/corpus) holds the corpus.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PARSE = """\
import sys
import libcst
for path in open(sys.argv[1]).read().split("\\n"):
    if path:
        with open(path, "rb") as handle:
            try:
                libcst.parse_module(handle.read())
            except Exception:
                pass
"""
IMPORTS = re.compile(r"^\s*(?:from\s+\.|from\s+(\w+)|import\s+(\w+))", re.MULTILINE)


def timed(argv: list[str], env: dict, cwd: str) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}")
    return elapsed


def discovered(env: dict, project: Path) -> list[str]:
    """The files ``leaflint check`` checks (its own discovery, excludes included)."""
    code = ("import sys; from leaflint.files import Discovery; "
            "print('\\n'.join(Discovery().discover([sys.argv[1]])))")
    out = subprocess.run([sys.executable, "-c", code, str(project)], env=env, capture_output=True, text=True,
                         check=True).stdout
    return [line for line in out.splitlines() if line]


def one_file(project: Path, files: list[str]) -> Path:
    """A typical file that imports other modules of the project: 100-600 lines, the most
    project imports (relative ones, or of the project's top-level packages)."""
    tops = {p.name for p in project.iterdir() if p.is_dir()} | {p.stem for p in project.glob("*.py")}
    best, score = None, -1
    for name in files:
        path = Path(name)
        text = path.read_text(encoding="utf-8", errors="replace")
        lines = text.count("\n")
        if not 100 <= lines <= 600 or "torch" not in text:
            continue
        count = sum(1 for m in IMPORTS.finditer(text) if m.group(0).strip().startswith("from .")
                    or (m.group(1) or m.group(2)) in tops)
        if count > score:
            best, score = path, count
    if best is None:
        raise SystemExit("no file of 100-600 lines that imports the project")
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", default="peft-0.21.2",
                        help="a directory, or the name of a project under $LEAFLINT_CORPUS_DIR/src")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--compare", metavar="CHECKOUT", help="also the cold check of this checkout")
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()

    source = Path(args.project)
    if not source.is_dir():
        source = Path(os.environ.get("LEAFLINT_CORPUS_DIR", "/work/corpus")) / "src" / args.project
    work = Path(tempfile.mkdtemp(prefix="leaflint-index-"))
    project = work / "project"
    shutil.copytree(source, project, symlinks=True)
    (project / "pyproject.toml").write_text("")
    python = sys.executable
    base_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LEAFLINT_CACHE_DIR", "NO_COLOR")}
    env = dict(base_env, PYTHONPATH=str(REPO))
    subprocess.run([python, "-m", "compileall", "-q", str(REPO / "leaflint")], env=env, check=False)
    files = discovered(env, project)
    listing = work / "files.txt"
    listing.write_text("\n".join(files))
    (work / "parse.py").write_text(PARSE)
    target = one_file(project, files)
    lines = sum(Path(f).read_text(encoding="utf-8", errors="replace").count("\n") for f in files)

    lint = [python, "-m", "leaflint", "check", "--isolated", "--jobs", "1", "--exit-zero"]
    primed = work / "cache-primed"
    timed(lint + ["--cache-dir", str(primed), str(project)], env, str(work))
    original = target.read_bytes()
    counter = iter(range(1_000_000))

    def cold() -> list[str]:
        fresh = work / f"cache-{next(counter)}"
        return lint + ["--cache-dir", str(fresh), str(project)]

    def edited() -> list[str]:
        target.write_bytes(original + f"\n# edit {next(counter)}\n".encode())
        return lint + ["--cache-dir", str(primed), str(target)]

    commands = {
        "bare libcst parse of the same files": (lambda: [python, str(work / "parse.py"), str(listing)], env),
        "leaflint check DIR, cold (empty cache)": (cold, env),
        "leaflint check DIR, warm (cache primed)": (lambda: lint + ["--cache-dir", str(primed), str(project)], env),
        "python -c 'import libcst, click' (baseline)": (lambda: [python, "-c", "import libcst, click"], base_env),
        "leaflint check FILE, warm index (FILE edited)": (edited, env),
    }
    if args.compare:
        other = dict(base_env, PYTHONPATH=str(Path(args.compare).resolve()))
        commands[f"{args.compare}: leaflint check DIR, cold"] = (cold, other)
    times: dict[str, list[float]] = {name: [] for name in commands}
    loads = [os.getloadavg()[0]]
    for _ in range(args.rounds):
        for name, (make, run_env) in commands.items():
            times[name].append(timed(make(), run_env, str(work)))
            if name.startswith("leaflint check FILE"):
                target.write_bytes(original)
    loads.append(os.getloadavg()[0])
    median = {name: statistics.median(values) for name, values in times.items()}
    names = list(commands)
    parse, cold_s, warm_s, base, one = (median[n] for n in names[:5])
    file_lines = original.count(b"\n")
    print(f"{source.name}: {len(files)} files, {lines:,} lines; FILE = {target.relative_to(project)} "
          f"({file_lines} lines); {args.rounds} interleaved rounds, --jobs 1; "
          f"load average {loads[0]:.1f} -> {loads[1]:.1f}\n")
    print("| command | median s |")
    print("|---|---:|")
    for name in names:
        print(f"| {name} | {median[name]:.3f} |")
    ratios = {"cold / bare parse": cold_s / parse, "one file / import libcst, click": one / base,
              "warm / cold": warm_s / cold_s}
    if args.compare:
        ratios["cold / cold of the other checkout"] = cold_s / median[names[5]]
    print()
    for name, value in ratios.items():
        print(f"- {name}: {value:.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"project": source.name, "files": len(files), "lines": lines,
                                               "file": str(target.relative_to(project)), "rounds": args.rounds,
                                               "load": loads, "times": times, "median": median,
                                               "ratios": ratios}, indent=2))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

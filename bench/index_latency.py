#!/usr/bin/env python3
"""The project index's cost: a whole project cold and warm, and one file with a warm index.

    python bench/index_latency.py                          # peft from the corpus, 5 rounds
    python bench/index_latency.py --project /path/to/proj --rounds 7 --json out.json
    python bench/index_latency.py --compare /work/main     # the same leaflint commands of another checkout too

The project is copied to a temporary directory (with a ``pyproject.toml``, so it is its own
root). Each round runs every command once, in turn (interleaved; child processes, ``--jobs 1``
so the figures do not depend on the other load's share of the cores); the table gives medians:

* bare parse: one process that imports libcst and runs ``libcst.parse_module`` on every file
  ``leaflint check`` discovers (the floor of any libcst-based checker);
* cold: ``leaflint check DIR`` with an empty cache directory (index built, every file parsed);
* warm: the same command again, every entry in the cache (no parse, no libcst import);
* one file, warm index: the cache primed by a whole-project run, then one file that imports
  other modules of the project edited (a comment appended, so its own entry misses) and
  checked alone, as pre-commit does; against ``python -c "import libcst, click"``;
* the parse floor of that one file: ``python -c "import libcst, click; libcst.parse_module(FILE)"``
  (what any check that parses the edited file with libcst pays at least).

The project's files are older than the index's racy margin (``leaflint/index/store.py``) when
the rounds begin: the cache is primed twice, 4 s apart, as a project whose files were written
some time ago. With ``--compare``, the other checkout's cold, warm and one-file runs are
interleaved with these (each checkout with its own primed cache). Besides the wall-clock
medians, the table gives the median CPU time (user + system) of each child: on a loaded
machine it is the steadier figure.

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


def timed(argv: list[str], env: dict, cwd: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system of the child)."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=errors)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode not in (0, 1):
            errors.seek(0)
            raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {errors.read().decode()[-2000:]}")
    return elapsed, usage.ru_utime + usage.ru_stime


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
    other = dict(base_env, PYTHONPATH=str(Path(args.compare).resolve())) if args.compare else None
    if other is not None:
        subprocess.run([python, "-m", "compileall", "-q", str(Path(args.compare) / "leaflint")], env=other,
                       check=False)
    primed, primed_other = work / "cache-primed", work / "cache-primed-other"
    for _ in range(2):  # the second time, the files are older than the index's racy margin
        time.sleep(4)
        timed(lint + ["--cache-dir", str(primed), str(project)], env, str(work))
        if other is not None:
            timed(lint + ["--cache-dir", str(primed_other), str(project)], other, str(work))
    original = target.read_bytes()
    counter = iter(range(1_000_000))

    def cold() -> list[str]:
        fresh = work / f"cache-{next(counter)}"
        return lint + ["--cache-dir", str(fresh), str(project)]

    def edited(cache: Path):
        def make() -> list[str]:
            target.write_bytes(original + f"\n# edit {next(counter)}\n".encode())
            return lint + ["--cache-dir", str(cache), str(target)]
        return make

    floor = f"import libcst, click; libcst.parse_module(open({str(target)!r}, 'rb').read())"
    commands = {
        "bare libcst parse of the same files": (lambda: [python, str(work / "parse.py"), str(listing)], env),
        "leaflint check DIR, cold (empty cache)": (cold, env),
        "leaflint check DIR, warm (cache primed)": (lambda: lint + ["--cache-dir", str(primed), str(project)], env),
        "python -c 'import libcst, click' (baseline)": (lambda: [python, "-c", "import libcst, click"], base_env),
        "leaflint check FILE, warm index (FILE edited)": (edited(primed), env),
        "parse floor: import libcst, click + parse_module(FILE)": (lambda: [python, "-c", floor], base_env),
    }
    if other is not None:
        commands[f"{args.compare}: leaflint check DIR, cold"] = (cold, other)
        commands[f"{args.compare}: leaflint check DIR, warm"] = (
            lambda: lint + ["--cache-dir", str(primed_other), str(project)], other)
        commands[f"{args.compare}: leaflint check FILE, warm index"] = (edited(primed_other), other)
    times: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    loads = [os.getloadavg()[0]]
    for _ in range(args.rounds):
        for name, (make, run_env) in commands.items():
            wall, used = timed(make(), run_env, str(work))
            times[name].append(wall)
            cpu[name].append(used)
            if target.read_bytes() != original:
                target.write_bytes(original)
    loads.append(os.getloadavg()[0])
    median = {name: statistics.median(values) for name, values in times.items()}
    median_cpu = {name: statistics.median(values) for name, values in cpu.items()}
    names = list(commands)
    file_lines = original.count(b"\n")
    print(f"{source.name}: {len(files)} files, {lines:,} lines; FILE = {target.relative_to(project)} "
          f"({file_lines} lines); {args.rounds} interleaved rounds, --jobs 1; "
          f"load average {loads[0]:.1f} -> {loads[1]:.1f}\n")
    print("| command | median s | median CPU s |")
    print("|---|---:|---:|")
    for name in names:
        print(f"| {name} | {median[name]:.3f} | {median_cpu[name]:.3f} |")

    def ratios_of(m: dict) -> dict:
        parse, cold_s, warm_s, base, one, floor_s = (m[n] for n in names[:6])
        found = {"cold / bare parse": cold_s / parse, "one file / import libcst, click": one / base,
                 "warm / cold": warm_s / cold_s, "parse floor / import libcst, click": floor_s / base}
        if other is not None:
            cold_o, warm_o, one_o = (m[n] for n in names[6:9])
            found.update({f"{args.compare}: cold / bare parse": cold_o / parse,
                          f"{args.compare}: one file / import libcst, click": one_o / base,
                          f"{args.compare}: warm / cold": warm_o / cold_o,
                          f"one file / {args.compare}'s one file": one / one_o})
        return found

    ratios, ratios_cpu = ratios_of(median), ratios_of(median_cpu)
    print("\n| ratio | wall | CPU |")
    print("|---|---:|---:|")
    for name, value in ratios.items():
        print(f"| {name} | {value:.3f} | {ratios_cpu[name]:.3f} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"project": source.name, "files": len(files), "lines": lines,
                                               "file": str(target.relative_to(project)), "rounds": args.rounds,
                                               "load": loads, "times": times, "cpu": cpu, "median": median,
                                               "median_cpu": median_cpu, "ratios": ratios,
                                               "ratios_cpu": ratios_cpu}, indent=2))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Speed of ``leaflint check`` against its peer and against the parse floor.

    python bench/speed.py                         # 3-project subset and whole corpus
    python bench/speed.py --sets subset --rounds 3 --json out.json
    python bench/speed.py --sets whole --torchfix-rounds 1

On the corpus of ``bench/corpus.py`` (run ``python bench/corpus.py --download-only`` first),
for each file set (``subset``: timm, lightning, peft; ``whole``: every project), runs in
interleaved rounds (every tool once per round, in turn) and reports the median of the rounds:

* ``leaflint cold``: ``leaflint check --no-cache --select ALL --jobs N``;
* ``leaflint warm``: the same with the cache primed (``--cache-dir`` in a temporary directory);
* ``torchfix``: TorchFix 0.7.0 ``--select ALL -j N``, installed by this script in its own
  virtualenv under ``<corpus cache>/torchfix-venv`` (a run takes minutes: ``--torchfix-rounds``);
* ``libcst parse xN`` / ``x1``: a bare ``libcst.parse_module`` of every file leaflint checks,
  with N worker processes (biggest files first) and in one process;
* ``ast.parse x1``: the same with the standard library's parser.

N is ``--jobs`` (default: the core count). Every command runs as a child process: wall time,
the largest single process's peak RSS (``wait4``), and the peak of the summed proportional set
size (PSS) of its process tree, sampled every 20 ms. Then single-file latency: ``leaflint check``
of one typical file (cold and warm) against ``python -c "import libcst, click"``, median of
``--latency-rounds``. Results go to stdout as Markdown, and to ``--json``.

The parse loops run with ``python bench/speed.py --parse {libcst,ast} --jobs N --files LIST``
(internal). Stdlib only; nothing is written inside the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO  # where the measured leaflint is imported from: a snapshot of REPO/leaflint
LAUNCHER = Path()  # runs the snapshot's `leaflint` command (set by snapshot())
SUBSET = ("timm", "lightning", "peft")
TORCHFIX_VERSION = "0.7.0"


# ----------------------------------------------------------------------------- parse loops (children)


def _parse_one(path: str) -> int:
    with open(path, "rb") as handle:
        data = handle.read()
    text = data.decode("utf-8", errors="replace")
    if _PARSER == "libcst":
        import libcst

        try:
            libcst.parse_module(text)
        except Exception:  # syntax errors, too deep: count the file anyway
            pass
    else:
        import ast

        try:
            ast.parse(text)
        except (SyntaxError, ValueError, RecursionError):
            pass
    return len(data)


_PARSER = "libcst"


def _init(parser: str) -> None:
    global _PARSER
    _PARSER = parser


def parse_main(parser: str, jobs: int, files_list: str) -> int:
    _init(parser)
    if parser == "libcst":
        import libcst  # noqa: F401  (before forking: the workers inherit it, as leaflint's do)
    with open(files_list, encoding="utf-8") as handle:
        files = [line.rstrip("\n") for line in handle if line.strip()]
    files.sort(key=lambda p: -os.path.getsize(p))
    if jobs <= 1:
        total = sum(_parse_one(p) for p in files)
    else:
        import multiprocessing

        with multiprocessing.get_context("fork").Pool(jobs, initializer=_init, initargs=(parser,)) as pool:
            total = sum(pool.imap_unordered(_parse_one, files, chunksize=4))
    print(f"{len(files)} files, {total} bytes")
    return 0


# ----------------------------------------------------------------------------- measuring


def _tree(pid: int) -> list[int]:
    """pid and its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as handle:
                stat = handle.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, stack = [], [pid]
    while stack:
        current = stack.pop()
        out.append(current)
        stack.extend(children.get(current, ()))
    return out


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def measure(cmd: list[str], cwd: str, env: dict | None = None, ok=(0, 1)) -> dict:
    """Wall time, CPU time (user + system, the process and its waited-for children), max
    single-process RSS and peak tree PSS of one command."""
    peak = [0]
    stop = threading.Event()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def sample() -> None:
        while not stop.is_set():
            total = sum(_pss_kb(p) for p in _tree(proc.pid))
            peak[0] = max(peak[0], total)
            stop.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stderr = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    stop.set()
    sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in ok:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{stderr.decode()[-3000:]}")
    return {"seconds": wall, "cpu_seconds": usage.ru_utime + usage.ru_stime, "max_rss_mb": usage.ru_maxrss / 1024,
            "peak_pss_mb": peak[0] / 1024}


# ----------------------------------------------------------------------------- setup


def corpus_dir(arg: str | None) -> Path:
    return Path(arg or os.environ.get("LEAFLINT_CORPUS_DIR") or Path.home() / ".cache/leaflint/corpus").expanduser()


def project_dirs(corpus: Path, names) -> list[Path]:
    src = corpus / "src"
    found = []
    for entry in sorted(src.iterdir()):
        project = entry.name.rsplit("-", 1)[0]
        if names is None or project in names:
            found.append(entry)
    return found


def discovered_files(dirs: list[Path]) -> list[str]:
    """The files leaflint checks under ``dirs`` (its own discovery)."""
    sys.path.insert(0, str(SOURCE))
    from leaflint.files import Discovery

    discovery = Discovery()
    return [os.path.abspath(p) for p in discovery.discover([str(d) for d in dirs])]


def torchfix_venv(corpus: Path) -> tuple[Path, str]:
    venv = corpus / "torchfix-venv"
    exe = venv / "bin" / "torchfix"
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
        if subprocess.run(pip + [f"torchfix=={TORCHFIX_VERSION}"]).returncode != 0:
            print(f"torchfix=={TORCHFIX_VERSION} is not installable here; using the newest available",
                  file=sys.stderr)
            subprocess.run(pip + ["torchfix"], check=True)
    version = subprocess.run([str(exe), "--version"], capture_output=True, text=True).stdout.strip()
    return exe, version


def line_count(files: list[str]) -> int:
    total = 0
    for path in files:
        with open(path, "rb") as handle:
            total += handle.read().count(b"\n")
    return total


def typical_file(files: list[str]) -> str:
    """The median-sized file among those leaflint parses (the prefilter keeps it)."""
    sys.path.insert(0, str(SOURCE))
    from leaflint.engine import PREFILTER

    kept = []
    for path in files:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
        if PREFILTER.search(text):
            kept.append((text.count("\n"), path))
    kept.sort()
    return kept[len(kept) // 2][1]


# ----------------------------------------------------------------------------- where the time goes


def stages_main(dirs: list[Path]) -> dict:
    """CPU seconds of each step of ``lint_source`` over the files, in this one process, one file
    at a time (holding every tree at once would measure the memory system, not leaflint)."""
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20000))
    import libcst

    from leaflint import engine, source
    from leaflint.fix.context import resolve
    from leaflint.model import build_model
    from leaflint.positions import Positions
    from leaflint.rules import select_rules

    files = discovered_files(dirs)
    texts = []
    for path in files:
        with open(path, "rb") as handle:
            texts.append((path, source.decode(handle.read()).text))
    rules = select_rules(["ALL"])
    clock = time.process_time
    steps = ["prefilter", "libcst parse, every file", "too_deep (CPython compile)", "libcst parse, parsed files",
             "semantic model", "rules", "positions and fixes of the findings", "lint_source (all of it)"]
    out: dict = {"files": len(texts), "parsed files": 0, "files with findings": 0}
    out.update({step: 0.0 for step in steps})

    def timed(step: str, fn, *args):
        start = clock()
        value = fn(*args)
        out[step] += clock() - start
        return value

    for path, text in texts:
        timed("libcst parse, every file", libcst.parse_module, text)
        if not timed("prefilter", engine.PREFILTER.search, text):
            continue
        out["parsed files"] += 1
        timed("too_deep (CPython compile)", source.too_deep, text)
        module = timed("libcst parse, parsed files", libcst.parse_module, text)
        model = timed("semantic model", build_model, module)
        reports = timed("rules", lambda: [(rule, report) for rule in rules for report in rule.check(model)])
        if reports:
            out["files with findings"] += 1

            def resolve() -> None:
                positions = Positions(module, text)
                for _, report in reports:
                    positions[report.node]
                    resolve(report.fix, module, positions)

            timed("positions and fixes of the findings", resolve)
        del module, model, reports
    for path, text in texts:
        timed("lint_source (all of it)", engine.lint_source, text, path, rules)
    return out


# ----------------------------------------------------------------------------- runs


def run_set(name: str, dirs: list[Path], args, workdir: Path, torchfix: Path | None) -> dict:
    files = discovered_files(dirs)
    listing = workdir / f"{name}.files"
    listing.write_text("\n".join(files) + "\n", encoding="utf-8")
    src = str(dirs[0].parent)
    rel = [d.name for d in dirs]
    leaflint = [sys.executable, str(LAUNCHER), "check", "--isolated", "--select", "ALL", "--jobs", str(args.jobs)]
    cache = workdir / f"{name}.cache"
    env = bench_env(workdir)
    tools: dict[str, tuple[list[str], int]] = {
        "leaflint cold": (leaflint + ["--no-cache"] + rel, args.rounds),
        "leaflint warm": (leaflint + ["--cache-dir", str(cache)] + rel, args.rounds),
        f"libcst parse x{args.jobs}": ([sys.executable, __file__, "--parse", "libcst", "--jobs", str(args.jobs),
                                         "--files", str(listing)], args.rounds),
        "libcst parse x1": ([sys.executable, __file__, "--parse", "libcst", "--jobs", "1", "--files", str(listing)],
                            args.rounds),
        "ast.parse x1": ([sys.executable, __file__, "--parse", "ast", "--jobs", "1", "--files", str(listing)],
                         args.rounds),
    }
    if torchfix is not None:
        rounds = args.torchfix_rounds if args.torchfix_rounds is not None else args.rounds
        tools["torchfix"] = ([str(torchfix), "--select", "ALL", "-j", str(args.jobs)] + rel, rounds)
    print(f"[{name}] {len(files)} files; priming the cache", file=sys.stderr, flush=True)
    load_before = _load()
    measure(leaflint + ["--cache-dir", str(cache)] + rel, src, env)
    runs: dict[str, list[dict]] = {tool: [] for tool in tools}
    for round_ in range(max(r for _, r in tools.values())):
        for tool, (cmd, rounds) in tools.items():
            if round_ >= rounds:
                continue
            result = measure(cmd, src, env)
            runs[tool].append(result)
            print(f"[{name}] round {round_ + 1} {tool}: {result['seconds']:.2f} s, cpu {result['cpu_seconds']:.2f} s, "
                  f"max RSS {result['max_rss_mb']:.0f} MB, tree PSS {result['peak_pss_mb']:.0f} MB",
                  file=sys.stderr, flush=True)
    summary = {}
    for tool, results in runs.items():
        summary[tool] = {
            "runs": len(results),
            "seconds": statistics.median(r["seconds"] for r in results),
            "all_seconds": [round(r["seconds"], 3) for r in results],
            "cpu_seconds": statistics.median(r["cpu_seconds"] for r in results),
            "max_rss_mb": max(r["max_rss_mb"] for r in results),
            "peak_pss_mb": max(r["peak_pss_mb"] for r in results),
            "command": " ".join(tools[tool][0]),
        }
    return {"files": len(files), "lines": line_count(files), "projects": rel, "cwd": src, "tools": summary,
            "prefilter": prefilter_stats(files), "load": [load_before, _load()]}


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def bench_env(workdir: Path) -> dict:
    """The environment of every measured command: this checkout first on the path, bytecode
    compiled once into the work directory (as an installed package has it; some sandboxes set
    PYTHONDONTWRITEBYTECODE, which would recompile leaflint on every start)."""
    env = dict(os.environ, PYTHONPATH=str(SOURCE), PYTHONPYCACHEPREFIX=str(workdir / "pycache"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("LEAFLINT_CACHE_DIR", None)
    return env


def prefilter_stats(files: list[str]) -> dict:
    sys.path.insert(0, str(SOURCE))
    from leaflint.engine import PREFILTER

    skipped = skipped_lines = 0
    for path in files:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
        if not PREFILTER.search(text):
            skipped += 1
            skipped_lines += text.count("\n")
    return {"skipped_files": skipped, "skipped_lines": skipped_lines}


def latency(files: list[str], args, workdir: Path) -> dict:
    target = typical_file(files)
    env = bench_env(workdir)
    base = [sys.executable, str(LAUNCHER)]  # what the `leaflint` console script does
    cache = workdir / "latency.cache"
    cwd = str(workdir)  # not the file's directory: its modules would shadow the standard library
    commands = {
        "python -c 'import libcst, click'": [sys.executable, "-c", "import libcst, click"],
        "leaflint check FILE --no-cache": base + ["check", "--isolated", "--no-cache", target],
        "leaflint check FILE (cache hit)": base + ["check", "--isolated", "--cache-dir", str(cache), target],
        "leaflint --version (imports only)": base + ["--version"],
    }
    ok = {label: (0, 1) if "leaflint check" in label else (0,) for label in commands}
    for label, cmd in commands.items():  # compile the bytecode, prime the cache
        measure(cmd, cwd, env, ok[label])
    runs: dict[str, list[float]] = {k: [] for k in commands}
    for _ in range(args.latency_rounds):
        for label, cmd in commands.items():
            runs[label].append(measure(cmd, cwd, env, ok[label])["seconds"])
    with open(target, "rb") as handle:
        lines = handle.read().count(b"\n")
    return {"file": target, "lines": lines, "seconds": {k: statistics.median(v) for k, v in runs.items()},
            "commands": {k: " ".join(v) for k, v in commands.items()}}


def markdown(results: dict) -> str:
    out = [f"Machine: {results['machine']['cores']} cores ({results['machine']['cpu']}), "
           f"Python {results['machine']['python']}, leaflint --jobs {results['jobs']}.", ""]
    for name, data in results["sets"].items():
        tools = data["tools"]
        cold = tools["leaflint cold"]["seconds"]
        out.append(f"### {name}: {', '.join(data['projects'])} ({data['files']} files, {data['lines']:,} lines)")
        out.append("")
        out.append(f"Prefilter: {data['prefilter']['skipped_files']} files "
                   f"({data['prefilter']['skipped_lines']:,} lines) never parsed.")
        out.append("")
        out.append(f"Load average before / after: {data['load'][0]} / {data['load'][1]}.")
        out.append("")
        out.append("| command | runs | median wall s | lines/s | vs leaflint cold | median CPU s | max RSS MB | "
                   "peak tree PSS MB |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|")
        for tool, t in tools.items():
            out.append(f"| {tool} | {t['runs']} | {t['seconds']:.2f} | {data['lines'] / t['seconds']:,.0f} | "
                       f"{t['seconds'] / cold:.3g}x | {t['cpu_seconds']:.2f} | {t['max_rss_mb']:.0f} | "
                       f"{t['peak_pss_mb']:.0f} |")
        out.append("")
    if "latency" in results:
        lat = results["latency"]
        out.append(f"### One file: {lat['file']} ({lat['lines']} lines)")
        out.append("")
        out.append("| command | median s |")
        out.append("|---|---:|")
        for label, seconds in lat["seconds"].items():
            out.append(f"| {label} | {seconds:.3f} |")
        out.append("")
    return "\n".join(out)


def snapshot(target: Path, results: dict) -> None:
    """Measure a copy of the checkout's leaflint: edits made to the tree during a run (which
    would also invalidate the primed cache: its key includes leaflint's own sources) do not
    leak into it."""
    global SOURCE, LAUNCHER
    LAUNCHER = target / "leaflint_snapshot.py"
    shutil.copytree(REPO / "leaflint", target / "leaflint", ignore=shutil.ignore_patterns("__pycache__"))
    SOURCE = target
    # An editable install's import hook would win over sys.path: the launcher drops it.
    LAUNCHER.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(target)!r})\n"
        "sys.meta_path[:] = [f for f in sys.meta_path if not type(f).__module__.startswith('__editable__')]\n"
        "from leaflint.cli import main\n"
        "sys.exit(main())\n", encoding="utf-8")
    sys.meta_path[:] = [f for f in sys.meta_path if not type(f).__module__.startswith("__editable__")]
    git = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"], capture_output=True, text=True)
    results["leaflint"] = git.stdout.strip() or "unknown"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus-dir", default=None, help="default: $LEAFLINT_CORPUS_DIR or ~/.cache/leaflint/corpus")
    p.add_argument("--sets", default="subset,whole", help="comma-separated: subset, whole")
    p.add_argument("--subset", default=",".join(SUBSET), help="the projects of the subset (default: %(default)s)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--torchfix-rounds", type=int, default=None, help="default: --rounds; 0 skips TorchFix")
    p.add_argument("--latency-rounds", type=int, default=11)
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    p.add_argument("--json", default=None, help="write the results here too")
    p.add_argument("--stages", action="store_true",
                   help="instead: CPU seconds of each step of the pipeline, in one process, per set")
    p.add_argument("--parse", choices=["libcst", "ast"], help=argparse.SUPPRESS)
    p.add_argument("--files", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.parse:
        return parse_main(args.parse, args.jobs, args.files)
    corpus = corpus_dir(args.corpus_dir)
    if args.stages:
        for name in args.sets.split(","):
            dirs = project_dirs(corpus, args.subset.split(",") if name == "subset" else None)
            data = stages_main(dirs)
            base = data["libcst parse, every file"]
            print(f"### {name}: {data['files']} files, {data['parsed files']} parsed, "
                  f"{data['files with findings']} with findings (--select ALL)\n")
            print("| step | CPU s | vs libcst parse of every file |")
            print("|---|---:|---:|")
            for step, value in data.items():
                if isinstance(value, float):
                    print(f"| {step} | {value:.2f} | {value / base:.2f}x |")
            print()
        return 0
    torchfix, torchfix_version = (None, None)
    if args.torchfix_rounds != 0:
        torchfix, torchfix_version = torchfix_venv(corpus)
    results = {
        "machine": {"cores": os.cpu_count(), "cpu": platform.processor() or platform.machine(),
                    "python": platform.python_version()},
        "jobs": args.jobs, "torchfix": torchfix_version, "sets": {},
    }
    with tempfile.TemporaryDirectory(prefix="leaflint-speed-") as tmp:
        workdir = Path(tmp)
        snapshot(workdir / "src", results)
        for name in args.sets.split(","):
            dirs = project_dirs(corpus, args.subset.split(",") if name == "subset" else None)
            results["sets"][name] = run_set(name, dirs, args, workdir, torchfix)
            if args.json:
                Path(args.json).write_text(json.dumps(results, indent=2))
        if args.latency_rounds:
            results["latency"] = latency(discovered_files(project_dirs(corpus, args.subset.split(","))), args, workdir)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Precision corpus: run leaflint over pinned releases of large PyTorch projects.

The corpus is a set of pinned wheels (see ``PROJECTS``). This tool downloads them
with pip into a cache outside the repository, extracts only their ``.py`` files,
runs ``python -m leaflint check --output-format json`` over each project, and
summarises how many findings each rule produces per 100k lines, so false
positives can be found and triaged (``--list-findings``).

Nothing downloaded is ever written inside the repository. Stdlib only.

Usage::

    python bench/corpus.py --download-only          # warm the cache
    python bench/corpus.py                          # full corpus
    python bench/corpus.py --projects timm,peft --select LL1 --list-findings

Cache: ``--cache-dir``, else ``$LEAFLINT_CORPUS_DIR``, else ``~/.cache/leaflint/corpus``::

    <cache>/wheels/          downloaded wheels (or sdists)
    <cache>/manifest.json    project -> requested version, actual version, file
    <cache>/src/<project>-<version>/   the .py files only
    <cache>/summary.json     default --summary output
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath

# project -> pinned version. Order is the order of the report.
PROJECTS: dict[str, str] = {
    "transformers": "5.24.0",
    "diffusers": "0.42.1",
    "timm": "1.0.31",
    "lightning": "2.6.6",
    "torchtune": "0.6.1",
    "peft": "0.21.2",
    "accelerate": "1.15.0",
    "torchvision": "0.29.1",
}

# Projects whose wheels are platform specific: if the plain binary download
# fails, try these explicit platform targets before falling back to the sdist.
PLATFORM_FALLBACKS: dict[str, list[list[str]]] = {
    "torchvision": [
        ["--platform", "manylinux_2_28_x86_64", "--python-version", "3.11"],
        ["--platform", "manylinux2014_x86_64", "--python-version", "3.11"],
    ],
}

# Meta codes that are not rule findings and are counted separately.
INTERNAL_ERROR = "LL003"
SYNTAX_ERROR = "LL001"
META_CODES = {INTERNAL_ERROR, SYNTAX_ERROR}

# Lint statuses that mean leaflint produced no usable result for the project.
NO_RESULT_STATUSES = {"cli-missing", "not-importable", "bad-output", "timeout", "error", "skipped"}
# ... and those that mean it cannot run at all, so the other projects are skipped.
FATAL_STATUSES = {"cli-missing", "not-importable"}

REPO_ROOT = Path(__file__).resolve().parent.parent
STDERR_TAIL_LINES = 40

# CLI options found to be unsupported by this leaflint; not retried per project.
_dropped_options: list[str] = []
_print_lock = threading.Lock()
_manifest_lock = threading.Lock()


def log(msg: str) -> None:
    """Progress goes to stderr so stdout stays the report."""
    with _print_lock:
        print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# versions


def normalize_name(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def version_key(v: str) -> tuple:
    """Sort key for release versions (stdlib stand-in for packaging.Version)."""
    v = v.split("+", 1)[0]
    m = re.match(r"^\s*v?(\d+(?:\.\d+)*)(.*)$", v)
    if not m:
        return ((), 1, v)
    release = tuple(int(p) for p in m.group(1).split("."))
    while len(release) > 1 and release[-1] == 0:
        release = release[:-1]
    rest = m.group(2)
    # final releases sort after their pre-releases
    return (release, 0 if re.match(r"^[-_.]?(a|b|rc|alpha|beta|pre|dev|c)", rest) else 1, rest)


def nearest_version(pinned: str, available: list[str]) -> str | None:
    """The highest available version not above ``pinned``, else the lowest above it."""
    if not available:
        return None
    pk = version_key(pinned)
    below = [v for v in available if version_key(v) <= pk]
    if below:
        return max(below, key=version_key)
    return min(available, key=version_key)


def available_versions(project: str) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "index", "versions", project],
        capture_output=True,
        text=True,
    )
    m = re.search(r"Available versions:\s*(.+)", proc.stdout)
    if not m:
        return []
    return [v.strip() for v in m.group(1).split(",") if v.strip()]


# --------------------------------------------------------------------------
# cache layout


def default_cache_dir() -> Path:
    env = os.environ.get("LEAFLINT_CORPUS_DIR")
    if env:
        return Path(env).expanduser()
    return Path("~/.cache/leaflint/corpus").expanduser()


def load_manifest(cache: Path) -> dict:
    path = cache / "manifest.json"
    if path.exists():
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return {}
    return {}


def save_manifest(cache: Path, manifest: dict) -> None:
    path = cache / "manifest.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)


def find_archive(wheels: Path, project: str, version: str) -> Path | None:
    """A wheel (preferred) or sdist of ``project==version`` already in the cache."""
    norm = normalize_name(project)
    ver = re.escape(version)
    wheel_re = re.compile(rf"^{norm}-{ver}(\+[^-]+)?-.+\.whl$")
    sdist_re = re.compile(rf"^{norm}-{ver}(\+[^-]+)?\.(tar\.gz|zip)$")
    wheels_found, sdists_found = [], []
    if not wheels.is_dir():
        return None
    for f in sorted(wheels.iterdir()):
        name = f.name
        dash = name.find("-")
        if dash < 0:
            continue
        candidate = normalize_name(name[:dash]) + name[dash:]
        if wheel_re.match(candidate):
            wheels_found.append(f)
        elif sdist_re.match(candidate):
            sdists_found.append(f)
    if wheels_found:
        return wheels_found[0]
    if sdists_found:
        return sdists_found[0]
    return None


# --------------------------------------------------------------------------
# download


def pip_download(project: str, version: str, wheels: Path, extra: list[str]) -> tuple[bool, str]:
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps",
        "-d", str(wheels), *extra, f"{project}=={version}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    out = (proc.stdout + proc.stderr).strip()
    return proc.returncode == 0, out


def try_version(project: str, version: str, wheels: Path) -> tuple[Path | None, str]:
    """Try every way to fetch ``project==version``; return the archive and how."""
    attempts: list[tuple[str, list[str]]] = [("wheel", ["--only-binary=:all:"])]
    for plat in PLATFORM_FALLBACKS.get(project, []):
        attempts.append((f"wheel {' '.join(plat)}", ["--only-binary=:all:", *plat]))
    last = ""
    for how, extra in attempts:
        ok, out = pip_download(project, version, wheels, extra)
        found = find_archive(wheels, project, version)
        if ok and found is not None:
            return found, how
        last = out
        log(f"  {project}=={version}: {how} download failed")
    return None, last


def try_sdist(project: str, version: str, wheels: Path) -> tuple[Path | None, str]:
    # No build isolation: building metadata must not pull torch into an isolated env.
    ok, out = pip_download(
        project, version, wheels, ["--no-binary=:all:", "--no-build-isolation"]
    )
    found = find_archive(wheels, project, version)
    if ok and found is not None:
        return found, "sdist"
    return None, out


def ensure_downloaded(project: str, pinned: str, cache: Path, manifest: dict) -> dict:
    """Return the manifest entry for ``project``, downloading if needed."""
    wheels = cache / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)

    entry = manifest.get(project)
    if entry and entry.get("requested") == pinned:
        path = wheels / entry["file"]
        if path.exists():
            log(f"{project}: cached {entry['file']}")
            return entry

    found = find_archive(wheels, project, pinned)
    if found is not None:
        log(f"{project}: cached {found.name}")
        entry = {"requested": pinned, "version": pinned, "file": found.name, "how": "cached"}
    else:
        log(f"{project}: downloading {project}=={pinned}")
        t0 = time.monotonic()
        version = pinned
        archive, how = try_version(project, pinned, wheels)
        if archive is None:
            versions = available_versions(project)
            if versions and pinned not in versions:
                version = nearest_version(pinned, versions) or pinned
                log(
                    f"!! {project}=={pinned} does not exist on the registry "
                    f"(available: {', '.join(versions[:8])}{', ...' if len(versions) > 8 else ''}); "
                    f"using nearest version {version}"
                )
                found = find_archive(wheels, project, version)
                if found is not None:
                    archive, how = found, "cached"
                else:
                    archive, how = try_version(project, version, wheels)
            elif not versions:
                log(f"!! {project}: `pip index versions` found no versions")
        if archive is None:
            log(f"  {project}=={version}: no usable wheel, trying the sdist")
            archive, how = try_sdist(project, version, wheels)
        if archive is None:
            tail = "\n".join(how.splitlines()[-15:])
            raise RuntimeError(f"{project}: could not download {project}=={version}:\n{tail}")
        log(f"{project}: got {archive.name} ({how}, {time.monotonic() - t0:.0f}s)")
        entry = {"requested": pinned, "version": version, "file": archive.name, "how": how}

    with _manifest_lock:
        manifest[project] = entry
        save_manifest(cache, manifest)
    return entry


# --------------------------------------------------------------------------
# extract


def _safe_rel(name: str) -> PurePosixPath | None:
    p = PurePosixPath(name)
    if p.is_absolute() or ".." in p.parts or not p.parts:
        return None
    return p


def extract_py(archive: Path, dest: Path) -> None:
    """Extract only the .py files of ``archive`` into ``dest``, once."""
    marker = dest / ".extracted"
    if marker.exists():
        return
    tmp = dest.with_name(dest.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)

    def write(rel: PurePosixPath, data: bytes) -> None:
        out = tmp.joinpath(*rel.parts)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)

    if archive.name.endswith(".whl") or archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                if info.is_dir() or not info.filename.endswith(".py"):
                    continue
                rel = _safe_rel(info.filename)
                if rel is not None:
                    write(rel, zf.read(info))
    elif archive.name.endswith((".tar.gz", ".tar")):
        with tarfile.open(archive, "r:*") as tf:
            for member in tf.getmembers():
                if not member.isfile() or not member.name.endswith(".py"):
                    continue
                rel = _safe_rel(member.name)
                if rel is None:
                    continue
                # drop the top-level "<name>-<version>/" (or git archive prefix) directory
                if len(rel.parts) > 1:
                    rel = PurePosixPath(*rel.parts[1:])
                fh = tf.extractfile(member)
                if fh is not None:
                    write(rel, fh.read())
    else:
        raise RuntimeError(f"unknown archive type: {archive}")

    (tmp / ".extracted").write_text(archive.name + "\n")
    if dest.exists():
        shutil.rmtree(dest)
    tmp.rename(dest)


def count_py(src: Path) -> tuple[int, int]:
    files = lines = 0
    for path in src.rglob("*.py"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        files += 1
        lines += data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
    return files, lines


# --------------------------------------------------------------------------
# lint


def _rejected_option(stderr: str, option: str) -> bool:
    s = stderr.lower()
    return option in s and (
        "no such option" in s
        or "unrecognized arguments" in s
        or "unknown option" in s
        or "no such command" in s
    )


def _parse_findings(stdout: str) -> list[dict] | None:
    text = stdout.strip()
    if not text:
        return []
    try:
        data = json.loads(text)
    except ValueError:
        # tolerate stray lines before/after the JSON document
        start = text.find("[")
        end = text.rfind("]")
        if start < 0 or end < start:
            return None
        try:
            data = json.loads(text[start : end + 1])
        except ValueError:
            return None
    if isinstance(data, dict):
        for key in ("findings", "diagnostics", "results"):
            if isinstance(data.get(key), list):
                data = data[key]
                break
    if not isinstance(data, list):
        return None
    return [d for d in data if isinstance(d, dict)]


def run_leaflint(
    src: Path,
    select: str | None,
    timeout: float,
    leaflint_path: Path = REPO_ROOT,
    extra_args: tuple[str, ...] = (),
) -> dict:
    """Run the leaflint CLI on ``src``. Returns a result dict (never raises).

    ``leaflint_path`` is the tree whose ``leaflint`` package is measured: it goes first on
    PYTHONPATH and is the working directory. ``extra_args`` go to ``leaflint check``.
    """
    base = [sys.executable, "-m", "leaflint", "check", "--output-format", "json"]
    optional = ["--no-cache", "--exit-zero"]
    tail = list(extra_args) + (["--select", select] if select else []) + [str(src)]

    env = dict(os.environ)
    env["PYTHONPATH"] = str(leaflint_path) + (
        os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""
    )
    dropped = _dropped_options
    while True:
        cmd = base + [o for o in optional if o not in dropped] + tail
        t0 = time.monotonic()
        try:
            proc = subprocess.run(
                cmd, capture_output=True, text=True, cwd=leaflint_path, env=env, timeout=timeout
            )
        except subprocess.TimeoutExpired as exc:
            err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
            return {
                "status": "timeout",
                "error": f"leaflint did not finish in {timeout:.0f}s",
                "seconds": round(time.monotonic() - t0, 2),
                "returncode": None,
                "command": cmd,
                "stderr_tail": "\n".join(err.splitlines()[-STDERR_TAIL_LINES:]),
                "findings": [],
            }
        seconds = time.monotonic() - t0
        rejected = [
            o for o in optional
            if o not in dropped and proc.returncode == 2 and _rejected_option(proc.stderr, o)
        ]
        if rejected:
            log(f"  leaflint CLI rejected {', '.join(rejected)}; retrying without")
            dropped.extend(rejected)
            continue
        break

    result: dict = {
        "status": "ok",
        "seconds": round(seconds, 2),
        "returncode": proc.returncode,
        "command": cmd,
        "dropped_options": list(dropped),
        "findings": [],
    }
    stderr_tail = "\n".join(proc.stderr.splitlines()[-STDERR_TAIL_LINES:])
    if "No module named leaflint.cli" in proc.stderr or "No module named 'leaflint.cli'" in proc.stderr:
        result.update(
            status="cli-missing",
            error="leaflint's CLI does not exist yet (No module named leaflint.cli)",
            stderr_tail=stderr_tail,
        )
        return result
    if "No module named leaflint" in proc.stderr:
        result.update(
            status="not-importable",
            error=f"leaflint is not importable from {leaflint_path}",
            stderr_tail=stderr_tail,
        )
        return result
    if proc.returncode not in (0, 1) or "Traceback (most recent call last)" in proc.stderr:
        result["stderr_tail"] = stderr_tail
    if proc.returncode != 0 and not proc.stdout.strip():
        # no JSON at all and a failing exit: the CLI crashed or refused the arguments
        result.update(
            status="error",
            error=f"leaflint exited {proc.returncode} without output",
            stderr_tail=stderr_tail,
        )
        return result
    findings = _parse_findings(proc.stdout)
    if findings is None:
        result.update(
            status="bad-output",
            error="stdout is not a JSON list of findings",
            stdout_head=proc.stdout[:2000],
            stderr_tail=stderr_tail,
        )
        return result
    if proc.returncode not in (0, 1):
        result["status"] = "error" if not findings else "ok-with-error-exit"
        result["error"] = f"leaflint exited {proc.returncode}"
    result["findings"] = findings
    return result


# --------------------------------------------------------------------------
# report


def finding_row_col(f: dict) -> tuple[int, int]:
    loc = f.get("location") or {}
    try:
        return int(loc.get("row") or 0), int(loc.get("column") or 0)
    except (TypeError, ValueError):
        return 0, 0


def rel_to(path: str, root: Path, cwd: Path) -> str:
    p = Path(path)
    if not p.is_absolute():
        p = cwd / p
    try:
        return p.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path


def summarize_project(name: str, entry: dict, files: int, lines: int, lint: dict | None) -> dict:
    row: dict = {
        "project": name,
        "requested_version": entry["requested"],
        "version": entry["version"],
        "archive": entry["file"],
        "files": files,
        "lines": lines,
    }
    if lint is None:
        return row
    by_rule: dict[str, int] = {}
    internal = syntax = 0
    for f in lint["findings"]:
        code = str(f.get("code", "?"))
        if code == INTERNAL_ERROR:
            internal += 1
        elif code == SYNTAX_ERROR:
            syntax += 1
        else:
            by_rule[code] = by_rule.get(code, 0) + 1
    total = sum(by_rule.values())
    row.update(
        status=lint["status"],
        findings=total,
        findings_by_rule=dict(sorted(by_rule.items())),
        findings_per_100k_lines=round(total * 100_000 / lines, 2) if lines else 0.0,
        internal_errors=internal,
        syntax_errors=syntax,
        seconds=lint["seconds"],
        returncode=lint["returncode"],
    )
    for key in ("error", "stderr_tail", "stdout_head", "dropped_options"):
        if lint.get(key):
            row[key] = lint[key]
    return row


def total_row(rows: list[dict], linted: bool) -> dict:
    tot: dict = {
        "project": "TOTAL",
        "files": sum(r["files"] for r in rows),
        "lines": sum(r["lines"] for r in rows),
    }
    if linted:
        ran = [r for r in rows if r.get("status") not in NO_RESULT_STATUSES]
        linted_lines = sum(r["lines"] for r in ran)
        by_rule: dict[str, int] = {}
        for r in ran:
            for code, n in r.get("findings_by_rule", {}).items():
                by_rule[code] = by_rule.get(code, 0) + n
        total = sum(by_rule.values())
        tot.update(
            findings=total,
            findings_by_rule=dict(sorted(by_rule.items())),
            linted_projects=len(ran),
            linted_lines=linted_lines,
            findings_per_100k_lines=round(total * 100_000 / linted_lines, 2) if linted_lines else None,
            internal_errors=sum(r.get("internal_errors", 0) for r in ran),
            syntax_errors=sum(r.get("syntax_errors", 0) for r in ran),
            seconds=round(sum(r.get("seconds") or 0 for r in ran), 2),
        )
    return tot


def markdown_table(rows: list[dict], total: dict, linted: bool) -> str:
    codes = sorted(total.get("findings_by_rule", {})) if linted else []
    header = ["project", "version", "files", "lines"]
    if linted:
        header += ["findings", "per 100k", *codes, f"internal ({INTERNAL_ERROR})",
                   f"syntax ({SYNTAX_ERROR})", "seconds", "status"]
    left = {"project", "version", "status"}
    out = ["| " + " | ".join(header) + " |",
           "|" + "|".join("---" if h in left else "---:" for h in header) + "|"]

    def cells(r: dict, is_total: bool) -> list[str]:
        version = "" if is_total else r["version"]
        if not is_total and r["version"] != r["requested_version"]:
            version += f" (pinned {r['requested_version']})"
        c = [r["project"], version, f"{r['files']:,}", f"{r['lines']:,}"]
        if linted and ((not is_total and r.get("status") in NO_RESULT_STATUSES)
                       or (is_total and not r.get("linted_projects"))):
            c += ["n/a"] * (len(header) - len(c) - 1) + [r.get("status", "")]
        elif linted:
            c += [f"{r.get('findings', 0):,}", f"{r.get('findings_per_100k_lines') or 0:.1f}"]
            c += [str(r.get("findings_by_rule", {}).get(code, 0)) for code in codes]
            c += [str(r.get("internal_errors", 0)), str(r.get("syntax_errors", 0)),
                  f"{r.get('seconds') or 0:.1f}", "" if is_total else r.get("status", "")]
        return c

    for r in rows:
        out.append("| " + " | ".join(cells(r, False)) + " |")
    out.append("| " + " | ".join(
        f"**{c}**" if c else c for c in cells(total, True)
    ) + " |")
    return "\n".join(out)


# --------------------------------------------------------------------------
# main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Run leaflint over pinned releases of large PyTorch projects.",
    )
    p.add_argument("--cache-dir", type=Path, default=None,
                   help="cache for wheels and sources (default: $LEAFLINT_CORPUS_DIR "
                        "or ~/.cache/leaflint/corpus)")
    p.add_argument("--projects", default=None,
                   help=f"comma-separated subset of: {','.join(PROJECTS)}")
    p.add_argument("--download-only", action="store_true",
                   help="download and extract, count files and lines, do not lint")
    p.add_argument("--select", default=None, help="passed to leaflint check --select")
    p.add_argument("--summary", type=Path, default=None,
                   help="where to write the JSON summary (default: <cache>/summary.json)")
    p.add_argument("--list-findings", action="store_true",
                   help="also print every finding as path:row:col: CODE message")
    p.add_argument("--jobs", type=int, default=4, help="parallel downloads (default 4)")
    p.add_argument("--timeout", type=float, default=3600.0,
                   help="seconds allowed for leaflint on one project (default 3600)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cache: Path = (args.cache_dir or default_cache_dir()).expanduser().resolve()
    try:
        cache.relative_to(REPO_ROOT)
    except ValueError:
        pass
    else:
        print(f"error: the corpus cache must live outside the repository ({cache})", file=sys.stderr)
        return 2

    if args.projects:
        wanted = [p.strip() for p in args.projects.split(",") if p.strip()]
        unknown = [p for p in wanted if p not in PROJECTS]
        if unknown:
            print(f"error: unknown project(s): {', '.join(unknown)}; "
                  f"known: {', '.join(PROJECTS)}", file=sys.stderr)
            return 2
        projects = [p for p in PROJECTS if p in wanted]
    else:
        projects = list(PROJECTS)

    cache.mkdir(parents=True, exist_ok=True)
    src_root = cache / "src"
    src_root.mkdir(exist_ok=True)
    manifest = load_manifest(cache)
    log(f"corpus cache: {cache}")

    # download + extract (parallel; network bound)
    entries: dict[str, dict] = {}
    failures: dict[str, str] = {}

    def prepare(project: str) -> None:
        try:
            entry = ensure_downloaded(project, PROJECTS[project], cache, manifest)
            dest = src_root / f"{project}-{entry['version']}"
            extract_py(cache / "wheels" / entry["file"], dest)
            entries[project] = entry
        except Exception as exc:  # report and go on with the others
            failures[project] = str(exc)
            log(f"!! {exc}")

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        list(pool.map(prepare, projects))

    linted = not args.download_only
    rows: list[dict] = []
    all_findings: list[tuple[str, int, int, str, str]] = []
    fatal = ""
    for project in projects:
        if project not in entries:
            continue
        entry = entries[project]
        src = src_root / f"{project}-{entry['version']}"
        files, lines = count_py(src)
        lint = None
        if linted and fatal:
            lint = {"status": "skipped", "error": fatal, "seconds": 0.0,
                    "returncode": None, "findings": []}
        elif linted:
            log(f"{project}: leaflint check ({files:,} files, {lines:,} lines)")
            lint = run_leaflint(src, args.select, args.timeout)
            if lint["status"] in FATAL_STATUSES:
                fatal = f"not run: {lint['error']}"
            if lint.get("error"):
                log(f"!! {project}: {lint['error']}")
                if lint.get("stderr_tail"):
                    log("   " + "\n   ".join(lint["stderr_tail"].splitlines()[-10:]))
            for f in lint["findings"]:
                row, col = finding_row_col(f)
                path = rel_to(str(f.get("filename", "?")), src_root, REPO_ROOT)
                all_findings.append((path, row, col, str(f.get("code", "?")),
                                     str(f.get("message", "")).replace("\n", " ")))
        rows.append(summarize_project(project, entry, files, lines, lint))

    total = total_row(rows, linted)

    if args.list_findings and linted:
        for path, row, col, code, message in sorted(all_findings):
            print(f"{path}:{row}:{col}: {code} {message}")
        print()

    print(markdown_table(rows, total, linted))
    if fatal:
        print(f"\nleaflint could not run: {fatal[len('not run: '):]}")
    for project, err in failures.items():
        print(f"\n{project}: FAILED: {err.splitlines()[0] if err else ''}")

    if linted or args.summary:
        summary = {
            "cache_dir": str(cache),
            "src_dir": str(src_root),
            "select": args.select,
            "python": sys.version.split()[0],
            "linted": linted,
            "note": f"findings exclude {INTERNAL_ERROR} (internal error) and "
                    f"{SYNTAX_ERROR} (syntax error), which are counted separately",
            "projects": rows,
            "total": total,
            "failures": failures,
        }
        summary_path = (args.summary or cache / "summary.json").expanduser()
        summary_path.parent.mkdir(parents=True, exist_ok=True)
        summary_path.write_text(json.dumps(summary, indent=2) + "\n")
        log(f"summary written to {summary_path}")

    if failures:
        return 1
    if linted and any(r.get("status") != "ok" for r in rows):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""The two-half corpus: a tuning half and a validation half, split by project.

``bench/corpus_manifest.toml`` (committed) names every artifact exactly: a registry release
(name, version, file, sha256) or a public repository (owner/name, commit, and the sha256 of a
``git archive`` of its ``.py`` files). Each project belongs to one half by a fixed rule
(:func:`half_of`), written in the manifest and checked against it on every run, so no project
can move between halves unnoticed. Decisions about rules are taken on the tuning half; the
validation half measures whether they generalise.

Download, extraction and the leaflint run are those of ``bench/corpus.py`` (same cache layout:
``<cache>/wheels``, ``<cache>/src/<project>-<version>``; repository archives in
``<cache>/archives``). Nothing is written inside the repository. Stdlib only.

Usage::

    python bench/corpus2.py download                  # fetch, verify sha256, extract
    python bench/corpus2.py run --leaflint-path /work/main --jobs 2 \\
        --findings-out /tmp/findings.tsv            # both halves, one table each

Each finding is marked true, false or new from the triage in ``bench/corpus_verdicts.tsv``
(``--verdicts``), and the closing table gives the precision of the triaged findings per half.
    python bench/corpus2.py run --half tuning --projects timm,peft
    python bench/corpus2.py add pypi NAME VERSION     # grow the corpus (writes the manifest)
    python bench/corpus2.py add github OWNER/NAME COMMIT --git-dir DIR

Cache: ``--cache-dir``, else ``$LEAFLINT_CORPUS_DIR``, else ``~/.cache/leaflint/corpus``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus as base  # noqa: E402  (bench/corpus.py: download, extract, lint, report)

MANIFEST = Path(__file__).resolve().parent / "corpus_manifest.toml"
# Triage of past runs: project, path in the project, line, rule, true/false, why, principle.
VERDICTS = Path(__file__).resolve().parent / "corpus_verdicts.tsv"
VERDICT_KINDS = ("true", "false", "new")
HALVES = ("tuning", "validation")

# The first corpus (bench/corpus.py), tuned on since round one: always in the tuning half.
TUNING_FIXED = tuple(base.PROJECTS)

SPLIT_RULE = (
    "a project is in the tuning half if it is one of the eight projects of bench/corpus.py "
    "(tuned on in round one), or if int(sha256(name).hexdigest(), 16) % 3 == 0, where name "
    "is the project's normalised name (lower case, runs of '-', '_', '.' replaced by '_'); "
    "every other project is in the validation half"
)

# Binary-only releases: try these wheel targets after the plain download.
PLATFORM_ARGS = [
    "--only-binary=:all:", "--python-version", "3.11",
    "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux_2_17_x86_64",
    "--platform", "manylinux2014_x86_64", "--platform", "linux_x86_64",
]


def half_of(name: str) -> str:
    """The half a project belongs to (see ``SPLIT_RULE``)."""
    if name in TUNING_FIXED:
        return "tuning"
    digest = hashlib.sha256(base.normalize_name(name).encode()).hexdigest()
    return "tuning" if int(digest, 16) % 3 == 0 else "validation"


@dataclass
class Project:
    name: str
    half: str
    source: str  # "pypi" or "github"
    version: str  # the release, or the commit's first 12 digits
    file: str  # archive file name in the cache
    sha256: str
    repo: str = ""  # github: owner/name
    commit: str = ""  # github: full commit
    files: int = 0
    lines: int = 0
    extra: dict = field(default_factory=dict)

    def archive(self, cache: Path) -> Path:
        sub = "archives" if self.source == "github" else "wheels"
        return cache / sub / self.file

    def src(self, cache: Path) -> Path:
        return cache / "src" / f"{self.name}-{self.version}"


# --------------------------------------------------------------------------
# manifest


def load_projects(path: Path = MANIFEST) -> list[Project]:
    data = tomllib.loads(path.read_text()) if path.exists() else {}
    out = []
    for entry in data.get("project", []):
        known = {k: entry[k] for k in Project.__dataclass_fields__ if k in entry and k != "extra"}
        out.append(Project(**known))
    return out


def _toml_str(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def write_projects(projects: list[Project], path: Path = MANIFEST) -> None:
    projects = sorted(projects, key=lambda p: (HALVES.index(p.half), p.name))
    lines = [
        "# The corpus of bench/corpus2.py: every artifact, exactly. Written by",
        "# `python bench/corpus2.py add ...`; the halves are fixed by the split rule below.",
        "# github archives: git --git-dir DIR archive --format=tar --prefix=NAME/ COMMIT",
        "#   -- ':(glob)**/*.py'   (NAME is the repository name; only the .py files)",
        "",
        "[split]",
        f"rule = {_toml_str(SPLIT_RULE)}",
        "tuning_fixed = [" + ", ".join(_toml_str(n) for n in TUNING_FIXED) + "]",
    ]
    for half in HALVES:
        members = [p for p in projects if p.half == half]
        lines += [
            f"{half} = {len(members)}",
            f"{half}_lines = {sum(p.lines for p in members)}",
        ]
    for p in projects:
        lines += ["", "[[project]]"]
        for key in ("name", "half", "source", "version", "repo", "commit", "file", "sha256"):
            value = getattr(p, key)
            if value:
                lines.append(f"{key} = {_toml_str(value)}")
        lines += [f"files = {p.files}", f"lines = {p.lines}"]
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --------------------------------------------------------------------------
# download and extract


def fetch_pypi(name: str, version: str, wheels: Path) -> Path:
    """Download ``name==version`` (wheel, else a platform wheel, else the sdist)."""
    attempts = [
        ["--only-binary=:all:"],
        PLATFORM_ARGS,
        ["--no-binary=:all:", "--no-build-isolation"],
    ]
    last = ""
    for extra in attempts:
        ok, out = base.pip_download(name, version, wheels, extra)
        found = base.find_archive(wheels, name, version)
        if ok and found is not None:
            return found
        last = out
    raise RuntimeError(f"{name}=={version}: could not download:\n" + "\n".join(last.splitlines()[-5:]))


def github_archive(git_dir: Path, repo: str, commit: str, dest: Path) -> None:
    """Write the ``git archive`` of the repository's .py files at ``commit`` to ``dest``."""
    prefix = repo.split("/", 1)[1] + "/"
    tmp = dest.with_suffix(".tmp")
    with tmp.open("wb") as fh:
        subprocess.run(
            ["git", "--git-dir", str(git_dir), "archive", "--format=tar", f"--prefix={prefix}",
             commit, "--", ":(glob)**/*.py"],
            stdout=fh, check=True,
        )
    tmp.replace(dest)


def ensure_project(p: Project, cache: Path) -> Path:
    """Make sure the archive is present and verified and its .py files extracted."""
    archive = p.archive(cache)
    archive.parent.mkdir(parents=True, exist_ok=True)
    if not archive.exists():
        if p.source == "github":
            raise RuntimeError(
                f"{p.name}: {archive} is missing; get the repository {p.repo} and run "
                f"`python bench/corpus2.py add github {p.repo} {p.commit} --git-dir DIR`"
            )
        got = fetch_pypi(p.name, p.version, archive.parent)
        if got.name != p.file:
            raise RuntimeError(f"{p.name}: downloaded {got.name}, manifest names {p.file}")
    digest = sha256_file(archive)
    if digest != p.sha256:
        raise RuntimeError(f"{p.name}: {archive.name} has sha256 {digest}, manifest says {p.sha256}")
    src = p.src(cache)
    base.extract_py(archive, src)
    return src


# --------------------------------------------------------------------------
# run


def leaflint_identity(path: Path) -> str:
    proc = subprocess.run(["git", "-C", str(path), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True)
    head = proc.stdout.strip() if proc.returncode == 0 else "not a git tree"
    dirty = subprocess.run(["git", "-C", str(path), "status", "--porcelain", "--", "leaflint"],
                           capture_output=True, text=True).stdout.strip()
    return head + (" (leaflint/ modified)" if dirty else "")


def load_verdicts(path: Path) -> dict[tuple[str, str, int, str], str]:
    """(project, path in the project, line, rule) -> "true" or "false", from a triage file."""
    verdicts: dict[tuple[str, str, int, str], str] = {}
    if not path.exists():
        return verdicts
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) < 5 or cols[4] not in ("true", "false") or not cols[2].isdigit():
            raise RuntimeError(f"{path}:{n}: expected project, path, line, rule, true|false, ...")
        verdicts[(cols[0], cols[1], int(cols[2]), cols[3])] = cols[4]
    return verdicts


def lint_half(projects: list[Project], cache: Path, args: argparse.Namespace,
              findings_out: list[str]) -> list[dict]:
    """Lint each project of one half; findings go to ``findings_out`` and, as each project
    finishes, to ``<findings-out>.partial`` (so a long run can be read while it goes).

    Each finding is looked up in the triage file (``--verdicts``): true, false, or new."""
    rows = []
    for p in projects:
        before = len(findings_out)
        src = p.src(cache)
        files, lines = base.count_py(src)
        base.log(f"[{p.half}] {p.name}: leaflint check ({files:,} files, {lines:,} lines)")
        lint = base.run_leaflint(src, args.select, args.timeout, args.leaflint_path,
                                 ("--jobs", str(args.jobs)))
        if lint.get("error"):
            base.log(f"!! {p.name}: {lint['error']}")
        tally = dict.fromkeys(VERDICT_KINDS, 0)
        for f in lint["findings"]:
            row, col = base.finding_row_col(f)
            filename, code = str(f.get("filename", "?")), str(f.get("code", "?"))
            path = base.rel_to(filename, cache / "src", args.leaflint_path)
            verdict = args.verdicts.get(
                (p.name, base.rel_to(filename, src, args.leaflint_path), row, code), "new")
            if code not in base.META_CODES:
                tally[verdict] += 1
            message = str(f.get("message", "")).replace("\n", " ")
            findings_out.append(f"{p.half}\t{p.name}\t{verdict}\t{path}:{row}:{col}: {code} {message}")
        if args.findings_out:
            with args.findings_out.with_name(args.findings_out.name + ".partial").open("a") as fh:
                fh.writelines(line + "\n" for line in findings_out[before:])
        entry = {"requested": p.version, "version": p.version, "file": p.file}
        rows.append(base.summarize_project(p.name, entry, files, lines, lint))
        rows[-1]["verdicts"] = tally
    return rows


def cmd_run(args: argparse.Namespace, projects: list[Project], cache: Path) -> int:
    args.leaflint_path = args.leaflint_path.resolve()
    args.verdicts_path = args.verdicts
    try:
        args.verdicts = load_verdicts(args.verdicts)
    except (RuntimeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not (args.leaflint_path / "leaflint" / "__init__.py").exists():
        print(f"error: no leaflint package in {args.leaflint_path}", file=sys.stderr)
        return 2
    failures = {}
    ready = []
    for p in projects:
        try:
            ensure_project(p, cache)
            ready.append(p)
        except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
            failures[p.name] = str(exc)
            base.log(f"!! {exc}")
    t0 = time.monotonic()
    findings: list[str] = []
    if args.findings_out:
        args.findings_out.with_name(args.findings_out.name + ".partial").write_text("")
    report: dict = {
        "leaflint_path": str(args.leaflint_path),
        "leaflint": leaflint_identity(args.leaflint_path),
        "select": args.select,
        "jobs": args.jobs,
        "split_rule": SPLIT_RULE,
        "halves": {},
        "failures": failures,
    }
    print(f"leaflint: {report['leaflint']} at {args.leaflint_path}; "
          f"rules: {args.select or 'default'}; --jobs {args.jobs}\n")
    for half in HALVES:
        members = [p for p in ready if p.half == half]
        if not members:
            continue
        rows = lint_half(members, cache, args, findings)
        total = base.total_row(rows, True)
        total["verdicts"] = {k: sum(r["verdicts"][k] for r in rows) for k in VERDICT_KINDS}
        report["halves"][half] = {"projects": rows, "total": total}
        print(f"## {half} half ({len(rows)} projects)\n")
        print(base.markdown_table(rows, total, True) + "\n")
    wall = time.monotonic() - t0
    report["wall_seconds"] = round(wall, 1)
    print(f"Verdicts from {args.verdicts_path}; precision is true / (true + false), "
          "over the findings triaged so far.\n")
    print("| half | projects | lines | findings | per 100k | true | false | new (not triaged) "
          "| precision | internal errors | syntax errors |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for half, data in report["halves"].items():
        t, v = data["total"], data["total"]["verdicts"]
        judged = v["true"] + v["false"]
        precision = f"{100 * v['true'] / judged:.0f}%" if judged else "n/a"
        print(f"| {half} | {t['linted_projects']} | {t['linted_lines']:,} | {t['findings']} | "
              f"{t['findings_per_100k_lines'] or 0:.2f} | {v['true']} | {v['false']} | {v['new']} | "
              f"{precision} | {t['internal_errors']} | {t['syntax_errors']} |")
    print(f"\nwall time of the lint: {wall:.0f} s")
    for name, err in failures.items():
        print(f"\n{name}: FAILED: {err.splitlines()[0] if err else ''}")
    if args.findings_out:
        args.findings_out.write_text("".join(line + "\n" for line in sorted(findings)))
        args.findings_out.with_name(args.findings_out.name + ".partial").unlink(missing_ok=True)
        base.log(f"{len(findings)} findings written to {args.findings_out}")
    summary = args.summary or cache / "summary2.json"
    summary.write_text(json.dumps(report, indent=2) + "\n")
    base.log(f"summary written to {summary}")
    bad = [r for d in report["halves"].values() for r in d["projects"] if r.get("status") != "ok"]
    return 1 if failures or bad else 0


def cmd_download(projects: list[Project], cache: Path) -> int:
    failed = 0
    for p in projects:
        try:
            src = ensure_project(p, cache)
        except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
            base.log(f"!! {exc}")
            failed += 1
            continue
        files, lines = base.count_py(src)
        if (files, lines) != (p.files, p.lines):
            base.log(f"!! {p.name}: {files} files, {lines} lines; manifest says {p.files}, {p.lines}")
            failed += 1
    print(f"{len(projects) - failed} of {len(projects)} projects ready in {cache / 'src'}")
    return 1 if failed else 0


def cmd_add(args: argparse.Namespace, projects: list[Project], cache: Path) -> int:
    by_name = {p.name: p for p in projects}
    if args.source == "pypi":
        name, version = args.ident, args.version
        archive = fetch_pypi(name, version, cache / "wheels")
        p = Project(name=name, half=half_of(name), source="pypi", version=version,
                    file=archive.name, sha256="")
    else:
        if not args.git_dir:
            print("error: add github needs --git-dir (a clone or bare repository)", file=sys.stderr)
            return 2
        repo, commit = args.ident, args.version
        name = args.name or repo.split("/", 1)[1]
        p = Project(name=name, half=half_of(name), source="github", version=commit[:12],
                    file=f"{repo.replace('/', '+')}-{commit[:12]}.tar", sha256="",
                    repo=repo, commit=commit)
        archive = p.archive(cache)
        archive.parent.mkdir(parents=True, exist_ok=True)
        github_archive(args.git_dir, repo, commit, archive)
    if p.name in by_name and by_name[p.name].source != p.source:
        print(f"error: {p.name} is already in the manifest from {by_name[p.name].source}",
              file=sys.stderr)
        return 2
    p.sha256 = sha256_file(archive)
    src = p.src(cache)
    base.extract_py(archive, src)
    p.files, p.lines = base.count_py(src)
    by_name[p.name] = p
    write_projects(list(by_name.values()), args.manifest)
    print(f"{p.name} {p.version}: {p.half} half, {p.files:,} files, {p.lines:,} lines")
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache-dir", type=Path, default=None)
    ap.add_argument("--manifest", type=Path, default=MANIFEST)
    sub = ap.add_subparsers(dest="command", required=True)
    for name in ("download", "run"):
        sp = sub.add_parser(name)
        sp.add_argument("--half", choices=HALVES, default=None, help="only this half")
        sp.add_argument("--projects", default=None, help="comma-separated subset")
    run = sub.choices["run"]
    run.add_argument("--leaflint-path", type=Path, default=base.REPO_ROOT,
                     help="tree whose leaflint package is measured (default: this checkout)")
    run.add_argument("--jobs", type=int, default=2, help="leaflint check --jobs (default 2)")
    run.add_argument("--select", default=None, help="leaflint check --select (default rules)")
    run.add_argument("--timeout", type=float, default=3600.0, help="seconds per project")
    run.add_argument("--findings-out", type=Path, default=None,
                     help="write every finding as HALF<TAB>PROJECT<TAB>VERDICT<TAB>"
                          "path:row:col: CODE message (VERDICT: true, false or new)")
    run.add_argument("--verdicts", type=Path, default=VERDICTS,
                     help="triage of past runs (default: bench/corpus_verdicts.tsv)")
    run.add_argument("--summary", type=Path, default=None,
                     help="JSON summary (default: <cache>/summary2.json)")
    add = sub.add_parser("add", help="download or archive one project and record it")
    add.add_argument("source", choices=("pypi", "github"))
    add.add_argument("ident", help="pypi: NAME; github: OWNER/NAME")
    add.add_argument("version", help="pypi: VERSION; github: full COMMIT")
    add.add_argument("--git-dir", type=Path, default=None)
    add.add_argument("--name", default=None, help="github: project name (default: NAME)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cache = (args.cache_dir or base.default_cache_dir()).expanduser().resolve()
    if cache.is_relative_to(base.REPO_ROOT):
        print(f"error: the corpus cache must live outside the repository ({cache})", file=sys.stderr)
        return 2
    (cache / "src").mkdir(parents=True, exist_ok=True)
    projects = load_projects(args.manifest)
    moved = [p.name for p in projects if p.half != half_of(p.name)]
    if moved:
        print(f"error: the manifest puts {', '.join(moved)} in the other half than the split "
              "rule does", file=sys.stderr)
        return 2
    if args.command == "add":
        return cmd_add(args, projects, cache)
    if args.projects:
        wanted = {n.strip() for n in args.projects.split(",") if n.strip()}
        unknown = wanted - {p.name for p in projects}
        if unknown:
            print(f"error: not in the manifest: {', '.join(sorted(unknown))}", file=sys.stderr)
            return 2
        projects = [p for p in projects if p.name in wanted]
    if args.half:
        projects = [p for p in projects if p.half == args.half]
    if args.command == "download":
        return cmd_download(projects, cache)
    return cmd_run(args, projects, cache)


if __name__ == "__main__":
    sys.exit(main())

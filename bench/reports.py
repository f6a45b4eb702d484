#!/usr/bin/env python3
"""Real bug reports: does each reconstruction still reproduce, and does leaflint find it?

The reports live in ``reports/<family>/<slug>_bad.py`` and ``<slug>_fixed.py`` (see reports/README.md).
Each bad file marks its buggy line(s) with ``# expect: LLxxx`` (a rule code fits) or ``# report: LLn``
(the family, when no rule code fits). This tool:

(a) ``--run``: runs every report under torch; a bad file must print one ``bug-shown:`` line and exit 0,
    a fixed file must print ``clean:`` and no ``bug-shown:`` and exit 0;
(b) always: runs ``leaflint check`` (default rules, ``--isolated``, no cache) over every bad and fixed
    file with ``--leaflint-path`` first on PYTHONPATH, and reports
      - static recall: bad files where every marked line has a finding of the marked family;
      - exact-code recall: the same, and every ``expect`` code reported at its line;
      - false alarms: fixed files with any finding;
    per family and per split half (tuning / validation);
(c) ``--probe``: runs ``leaflint probe`` on each bad file (in a temporary root holding just that file)
    and says whether the probe confirms the marked line or reports it as ``missed``.

The split is fixed by a rule that does not look at results: a report is in the *tuning* half when the
first byte of sha256("<family>/<slug>") is even, else in the *validation* half (``split_of``).

A report whose docstring has a ``Batch: <name>`` line belongs to a held-out batch (e.g. ``holdout-5``): it is in
neither half, and its figures are reported apart, one table and one summary line per batch, so the batch measures
generalisation and the figures of the reports without a batch line stay comparable from run to run.

``--write-doc docs/reports.md`` rewrites the generated part of that file (between the
``<!-- bench:begin -->`` and ``<!-- bench:end -->`` markers); the prose around it is kept.

Usage::

    python bench/reports.py                              # static figures for this tree
    python bench/reports.py --leaflint-path /work/main   # measure another tree
    python bench/reports.py --run --probe --write-doc docs/reports.md
    python bench/reports.py --batch holdout-5            # one held-out batch only (``--batch base``: the rest)

Stdlib only; torch is needed for ``--run`` and ``--probe`` (they run the reports).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPORTS = ROOT / "reports"
FAMILIES = ("ll1", "ll2", "ll3", "ll4")
BASE = "base"  # the reports without a `Batch:` line
MARKER = re.compile(r"#\s*(?P<kind>expect|report):\s*(?P<codes>LL\d{1,3}(?:\s*,\s*LL\d{1,3})*)")
DOC_BEGIN, DOC_END = "<!-- bench:begin -->", "<!-- bench:end -->"
RUN_TIMEOUT = 120


def split_of(family: str, slug: str) -> str:
    """The half a report belongs to, decided by its name only."""
    return "tuning" if hashlib.sha256(f"{family}/{slug}".encode()).digest()[0] % 2 == 0 else "validation"


@dataclass
class Report:
    family: str
    slug: str
    bad: Path
    fixed: Path
    summary: str = ""
    source: str = ""
    shape: str = ""
    fix: str = ""
    marks: dict[int, tuple[str, list[str]]] = field(default_factory=dict)  # line -> (kind, codes)
    split: str = ""  # tuning / validation, or the batch's name for a held-out batch
    batch: str = ""  # the docstring's `Batch:` line; "" for the reports without one
    # filled in by the measurements
    bad_findings: list[dict] = field(default_factory=list)
    fixed_findings: list[dict] = field(default_factory=list)
    run_bad: str = ""
    run_fixed: str = ""
    probe: str = ""

    @property
    def name(self) -> str:
        return f"{self.family}/{self.slug}"

    def found(self) -> bool:
        """Every marked line has a finding in the marked family (the first three characters, e.g. LL1)."""
        return bool(self.marks) and all(
            any(f["location"]["row"] == line and any(f["code"].startswith(c[:3]) for c in codes) for f in self.bad_findings)
            for line, (_, codes) in self.marks.items()
        )

    def exact(self) -> bool:
        """Found, and every ``expect`` code is reported at its own line."""
        if not self.found():
            return False
        return all(
            any(f["location"]["row"] == line and f["code"] in codes for f in self.bad_findings)
            for line, (kind, codes) in self.marks.items()
            if kind == "expect"
        )

    def false_alarm(self) -> bool:
        return bool(self.fixed_findings)

    def has_code(self) -> bool:
        return any(kind == "expect" for kind, _ in self.marks.values())


def _docstring_fields(text: str) -> dict[str, str]:
    match = re.match(r'\s*"""(.*?)"""', text, re.S)
    doc = match.group(1) if match else ""
    lines = doc.strip().splitlines()
    out = {"summary": lines[0].strip() if lines else ""}
    current = None
    for line in lines[1:]:
        m = re.match(r"(Source|Shape|Fix|Note|Batch):\s*(.*)", line.strip())
        if m:
            current = m.group(1).lower()
            out[current] = m.group(2).strip()
        elif current and line.strip():
            out[current] += " " + line.strip()
        else:
            current = None
    return out


def discover(root: Path = REPORTS) -> list[Report]:
    reports = []
    for family in FAMILIES:
        for bad in sorted((root / family).glob("*_bad.py")):
            slug = bad.name[: -len("_bad.py")]
            fixed = bad.with_name(f"{slug}_fixed.py")
            text = bad.read_text(encoding="utf-8")
            fields = _docstring_fields(text)
            marks = {}
            for row, line in enumerate(text.splitlines(), 1):
                m = MARKER.search(line)
                if m:
                    marks[row] = (m.group("kind"), [c.strip() for c in m.group("codes").split(",")])
            batch = fields.get("batch", "").strip()
            reports.append(
                Report(
                    family=family,
                    slug=slug,
                    bad=bad,
                    fixed=fixed,
                    summary=fields.get("summary", ""),
                    source=fields.get("source", ""),
                    shape=fields.get("shape", ""),
                    fix=_docstring_fields(fixed.read_text(encoding="utf-8")).get("fix", "") if fixed.exists() else "",
                    marks=marks,
                    split=batch or split_of(family, slug),
                    batch=batch,
                )
            )
    return reports


def problems(reports: list[Report]) -> list[str]:
    """Structural problems: a bad file without a marker or a twin, a fixed file with a marker."""
    out = []
    for r in reports:
        if not r.fixed.exists():
            out.append(f"{r.bad}: no fixed twin {r.fixed.name}")
        elif MARKER.search(r.fixed.read_text(encoding="utf-8")):
            out.append(f"{r.fixed}: a fixed file carries a marker")
        if not r.marks:
            out.append(f"{r.bad}: no `# expect:` or `# report:` marker")
        if not r.source.startswith("http"):
            out.append(f"{r.bad}: no `Source:` URL in the docstring")
        if r.fixed.exists() and _docstring_fields(r.fixed.read_text(encoding="utf-8")).get("batch", "").strip() != r.batch:
            out.append(f"{r.fixed}: its `Batch:` line differs from {r.bad.name}'s")
    return out


def batches(reports: list[Report]) -> list[str]:
    """The held-out batches present, in name order (the reports without a batch line are not one)."""
    return sorted({r.batch for r in reports if r.batch})


# ---------------------------------------------------------------- (b) static check


def _env(leaflint_path: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1", TORCH_COMPILE_DISABLE="1")
    if leaflint_path is not None:
        env["PYTHONPATH"] = str(leaflint_path)
    else:
        env.pop("PYTHONPATH", None)
    return env


def static_check(reports: list[Report], leaflint_path: Path, python: str) -> None:
    files = [str(p.relative_to(ROOT)) for r in reports for p in (r.bad, r.fixed) if p.exists()]
    cmd = [python, "-m", "leaflint", "check", "--isolated", "--no-cache", "--exit-zero", "--output-format", "json", *files]
    proc = subprocess.run(cmd, cwd=ROOT, env=_env(leaflint_path), capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"leaflint check failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    findings = json.loads(proc.stdout or "[]")
    by_file: dict[str, list[dict]] = {}
    for f in findings:
        by_file.setdefault(Path(f["filename"]).as_posix(), []).append(f)
    for r in reports:
        r.bad_findings = by_file.get(r.bad.relative_to(ROOT).as_posix(), [])
        r.fixed_findings = by_file.get(r.fixed.relative_to(ROOT).as_posix(), [])


# ---------------------------------------------------------------- (a) run under torch


def verdict(kind: str, exit_code: int, stdout: str, stderr: str) -> str:
    """'' when a program behaves as its kind claims, else one line saying what went wrong."""
    shown = [ln for ln in stdout.splitlines() if ln.startswith("bug-shown:")]
    clean = [ln for ln in stdout.splitlines() if ln.startswith("clean:")]
    tail = (stderr.strip().splitlines() or [""])[-1]
    if exit_code != 0:
        return f"exit {exit_code}: {tail}"
    if kind == "bad" and len(shown) != 1:
        return f"expected one bug-shown line, got {len(shown)}"
    if kind == "fixed" and (shown or len(clean) != 1):
        return f"expected one clean line and no bug-shown, got {len(clean)} and {len(shown)}"
    return ""


def _run_batch(paths: list[Path], python: str) -> dict[str, tuple[int, str, str]]:
    """Run programs through reports/_runner.py (torch imported once, one forked child per program)."""
    cmd = [python, str(REPORTS / "_runner.py"), *map(str, paths)]
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=_env(None), capture_output=True, text=True,
                              timeout=RUN_TIMEOUT * max(1, len(paths)), stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return {}
    out = {}
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            result = json.loads(line)
            out[result["file"]] = (result["exit"], result["stdout"], result["stderr"])
    return out


def run_all(reports: list[Report], python: str, jobs: int) -> None:
    files = [p for r in reports for p in (r.bad, r.fixed)]
    batches = [files[i::jobs] for i in range(jobs)]
    results: dict[str, tuple[int, str, str]] = {}
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for part in pool.map(lambda batch: _run_batch(batch, python), batches):
            results.update(part)
    for r in reports:
        for kind, path in (("bad", r.bad), ("fixed", r.fixed)):
            res = results.get(str(path))
            outcome = "did not finish" if res is None else (verdict(kind, *res) or "ok")
            setattr(r, f"run_{kind}", outcome)


# ---------------------------------------------------------------- (c) probe


def probe_one(r: Report, leaflint_path: Path, python: str) -> str:
    """confirmed / missed / not-seen (+ detail) for the report's marked lines."""
    with tempfile.TemporaryDirectory(prefix="leaflint-report-") as tmp:
        root = Path(tmp) / r.family
        root.mkdir()
        shutil.copy(REPORTS / "_check.py", Path(tmp) / "_check.py")
        target = root / r.bad.name
        shutil.copy(r.bad, target)
        cmd = [python, "-m", "leaflint", "probe", "--root", str(root), "--timeout", str(RUN_TIMEOUT),
               "--output-format", "json", str(target)]
        try:
            proc = subprocess.run(cmd, cwd=tmp, env=_env(leaflint_path), capture_output=True, text=True,
                                  timeout=RUN_TIMEOUT + 30, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return "probe timed out"
        try:
            events = json.loads(proc.stdout or "[]")
        except json.JSONDecodeError:
            return f"probe failed (exit {proc.returncode})"
    verdicts = []
    for line in r.marks:
        here = {e.get("verdict") for e in events if e["location"]["row"] == line}
        if "confirmed" in here:
            verdicts.append("confirmed")
        elif "missed" in here:
            verdicts.append("missed")
        else:
            verdicts.append("not-seen")
    worst = "not-seen" if "not-seen" in verdicts else ("missed" if "missed" in verdicts else "confirmed")
    return worst


def probe_all(reports: list[Report], leaflint_path: Path, python: str, jobs: int) -> None:
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {r.name: pool.submit(probe_one, r, leaflint_path, python) for r in reports}
        for r in reports:
            r.probe = futures[r.name].result()


# ---------------------------------------------------------------- report


def _ratio(n: int, d: int) -> str:
    return f"{n}/{d} ({100 * n / d:.0f}%)" if d else "0/0"


TABLE_HEAD = ["| set | reports | static recall | exact-code recall | false alarms on fixed |", "|---|---:|---:|---:|---:|"]


def _rows(groups: list[tuple[str, list[Report]]]) -> list[str]:
    """One table row per non-empty group."""
    rows = []
    for name, group in groups:
        if not group:
            continue
        n = len(group)
        rows.append(
            f"| {name} | {n} | {_ratio(sum(r.found() for r in group), n)} | {_ratio(sum(r.exact() for r in group), n)} "
            f"| {_ratio(sum(r.false_alarm() for r in group), n)} |"
        )
    return rows


def table(reports: list[Report]) -> list[str]:
    """The reports without a batch line: all, the two halves, each family, each half by family."""
    groups = [("all", reports)]
    groups += [(half, [r for r in reports if r.split == half]) for half in ("tuning", "validation")]
    groups += [(fam.upper(), [r for r in reports if r.family == fam]) for fam in FAMILIES]
    groups += [
        (f"{half}, {fam.upper()}", [r for r in reports if r.split == half and r.family == fam])
        for half in ("tuning", "validation") for fam in FAMILIES
    ]
    return TABLE_HEAD + _rows(groups)


def batch_table(name: str, reports: list[Report]) -> list[str]:
    """One held-out batch: the whole batch, then each family."""
    groups = [(name, reports)] + [(f"{name}, {fam.upper()}", [r for r in reports if r.family == fam]) for fam in FAMILIES]
    return TABLE_HEAD + _rows(groups)


def summary_line(name: str, reports: list[Report]) -> str:
    """One line: recall and false alarms of a set of reports."""
    n = len(reports)
    return (f"{name}: {n} reports; static recall {_ratio(sum(r.found() for r in reports), n)}, "
            f"exact-code recall {_ratio(sum(r.exact() for r in reports), n)}, "
            f"false alarms on fixed {_ratio(sum(r.false_alarm() for r in reports), n)}")


def _short(findings: list[dict], lines: set[int] | None = None) -> str:
    picked = [f for f in findings if lines is None or f["location"]["row"] in lines]
    return ", ".join(sorted({f"{f['code']}@{f['location']['row']}" for f in picked})) or "-"


def per_report(reports: list[Report], with_run: bool, with_probe: bool) -> list[str]:
    head = "| report | half | marked | static | leaflint on bad | on fixed |"
    sep = "|---|---|---|---|---|---|"
    if with_run:
        head += " runs |"
        sep += "---|"
    if with_probe:
        head += " probe |"
        sep += "---|"
    rows = [head, sep]
    for r in reports:
        marked = "; ".join(f"{','.join(codes)}@{line}" + ("" if kind == "expect" else " (family)") for line, (kind, codes) in r.marks.items())
        status = "found" if r.exact() else ("found (other code)" if r.found() else "missed")
        row = f"| [{r.name}]({r.source}) | {r.split} | {marked} | {status} | {_short(r.bad_findings)} | {_short(r.fixed_findings)} |"
        if with_run:
            ok = r.run_bad == "ok" and r.run_fixed == "ok"
            row += " ok |" if ok else f" bad: {r.run_bad}; fixed: {r.run_fixed} |"
        if with_probe:
            row += f" {r.probe} |"
        rows.append(row)
    return rows


def shapes(reports: list[Report]) -> list[str]:
    out = []
    for r in reports:
        status = "found" if r.found() else "MISSED"
        out.append(f"- `{r.name}` ({r.split}, {status}): {r.summary} Shape: {r.shape}")
    return out


def _flagged(reports: list[Report]) -> str:
    flagged_bad = sum(bool(r.bad_findings) for r in reports)
    flagged_fixed = sum(r.false_alarm() for r in reports)
    return (f"Flagged programs (any finding): {flagged_bad + flagged_fixed}, of which {flagged_fixed} correct "
            f"(fixed) programs; {flagged_bad - sum(r.found() for r in reports)} bad programs flagged only away "
            "from their marked line.")


def render(reports: list[Report], leaflint_path: Path, with_run: bool, with_probe: bool) -> str:
    base = [r for r in reports if not r.batch]
    lines = [f"Measured with `leaflint` from `{leaflint_path}` (default rules, `--isolated`).", ""]
    if base:
        lines += table(base) + [""]
        lines += [_flagged(base), ""]
    for name in batches(reports):
        group = [r for r in reports if r.batch == name]
        lines += [f"Held-out batch `{name}` (not tuned on; counted apart from the reports above):", ""]
        lines += batch_table(name, group) + [""]
        lines += [summary_line(name, group) + ".", "", _flagged(group), ""]
    if with_run:
        broken = [r for r in reports if r.run_bad != "ok" or r.run_fixed != "ok"]
        lines += [f"Runtime: {len(reports) - len(broken)}/{len(reports)} reports reproduce (bad shows the bug, fixed runs clean).", ""]
    if with_probe:
        counts = {v: sum(r.probe == v for r in reports) for v in ("confirmed", "missed", "not-seen")}
        lines += [f"Probe on the bad files: {counts['confirmed']} confirmed, {counts['missed']} reported as missed, "
                  f"{counts['not-seen']} not seen at the marked line.", ""]
    lines += per_report(reports, with_run, with_probe) + [""]
    lines += ["Shapes:", ""] + shapes(reports)
    return "\n".join(lines) + "\n"


def write_doc(path: Path, body: str) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else f"# Real bug reports\n\n{DOC_BEGIN}\n{DOC_END}\n"
    if DOC_BEGIN not in text or DOC_END not in text:
        raise SystemExit(f"{path}: no {DOC_BEGIN} / {DOC_END} markers; not overwriting it")
    head, rest = text.split(DOC_BEGIN, 1)
    _, tail = rest.split(DOC_END, 1)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(f"{head}{DOC_BEGIN}\n{body}{DOC_END}{tail}", encoding="utf-8")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leaflint-path", type=Path, default=ROOT, help="tree whose leaflint is measured (default: this one)")
    parser.add_argument("--python", default=sys.executable, help="interpreter with torch (and leaflint's deps)")
    parser.add_argument("--run", action="store_true", help="run every report under torch")
    parser.add_argument("--probe", action="store_true", help="run `leaflint probe` on every bad file")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--only", default="", help="substring filter on <family>/<slug>")
    parser.add_argument("--batch", default=None,
                        help=f"only this held-out batch (the `Batch:` line), or `{BASE}` for the reports without one")
    parser.add_argument("--write-doc", type=Path, help="rewrite the generated part of this markdown file")
    parser.add_argument("--json", type=Path, help="write per-report results as JSON here")
    args = parser.parse_args(argv)

    reports = [r for r in discover() if args.only in r.name]
    if args.batch is not None:
        reports = [r for r in reports if (r.batch or BASE) == args.batch]
    issues = problems(reports)
    for issue in issues:
        print(f"problem: {issue}", file=sys.stderr)
    leaflint_path = args.leaflint_path.resolve()
    static_check(reports, leaflint_path, args.python)
    if args.run:
        run_all(reports, args.python, args.jobs)
    if args.probe:
        probe_all(reports, leaflint_path, args.python, args.jobs)
    body = render(reports, leaflint_path, args.run, args.probe)
    print(body)
    if args.write_doc:
        write_doc(args.write_doc, body)
    if args.json:
        args.json.write_text(json.dumps([
            {"report": r.name, "split": r.split, "batch": r.batch, "found": r.found(), "exact": r.exact(), "false_alarm": r.false_alarm(),
             "bad_findings": _short(r.bad_findings), "fixed_findings": _short(r.fixed_findings),
             "run_bad": r.run_bad, "run_fixed": r.run_fixed, "probe": r.probe, "source": r.source}
            for r in reports], indent=2) + "\n", encoding="utf-8")
    broken_runs = args.run and any(r.run_bad != "ok" or r.run_fixed != "ok" for r in reports)
    return 1 if issues or broken_runs else 0


if __name__ == "__main__":
    sys.exit(main())

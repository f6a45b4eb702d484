"""Text and JSON renderings of a probe run (no torch)."""

from __future__ import annotations

import json
import os
from collections import defaultdict

from leaflint.probe.reconcile import CONFIRMED, MISSED, NOT_REACHED, REFUTED, Reconciled


def run_summary(run, verbose: bool = False) -> list[str]:
    """Lines about the run itself: command, exit status, processes, torch.compile, the
    probe's own failures (each with its message when ``verbose``)."""
    lines = [f"leaflint probe: ran `{' '.join(run.command)}`: {run.status_text()}"]
    procs = run.processes
    ranks = sorted({p.get("rank") for p in procs if p.get("rank") is not None})
    pids = sorted({p.get("pid") for p in procs})
    extra = f" (ranks {', '.join(map(str, ranks))})" if ranks else ""
    lines.append(
        f"torch.compile disabled while probing (TORCH_COMPILE_DISABLE=1); "
        f"events from {len(pids)} process{'es' if len(pids) != 1 else ''}{extra}")
    for err in run.probe_errors[:5]:
        lines.append(f"probe warning: {err.get('what')}")
    lines.extend(monitor_error_lines(*run.monitor_errors, verbose=verbose))
    return lines


def monitor_error_lines(count: int, messages: list[dict], verbose: bool = False) -> list[str]:
    """How many times the monitor failed (``runner.monitor_errors``), and where with ``verbose``
    (``leaflint probe --verbose``, ``pytest --leaflint-probe -v``). None when it never failed."""
    if not count:
        return []
    lines = [f"probe warning: the monitor failed {count} time{'s' if count != 1 else ''} "
             f"(events may be missing){'' if verbose else '; --verbose shows where'}"]
    if verbose:
        for rec in messages:
            lines.append(f"  monitor error in {rec.get('where')} (pid {rec.get('pid')}): {rec.get('error')}")
    return lines


def render_text(result: Reconciled, run=None, verbose: bool = False) -> str:
    out: list[str] = []
    if run is not None:
        out.extend(run_summary(run, verbose))
        out.append("")
    groups: dict[str, list] = defaultdict(list)
    for v in sorted(result.verdicts, key=lambda v: v.finding.sort_key()):
        groups[v.finding.filename].append(v)
    for filename in sorted(groups):
        out.append(filename)
        for v in groups[filename]:
            out.extend(_verdict_lines(v))
        out.append("")
    if result.missed:
        out.append("Missed by static analysis (runtime events no finding covers):")
        for v in sorted(result.missed, key=lambda v: v.finding.sort_key()):
            f = v.finding
            out.append(f"  {f.filename}:{f.location.row}:{f.location.column}: {f.code} [{MISSED}] {f.name}")
            out.append(f"      {v.evidence}")
        out.append("")
    c = result.counts()
    out.append(f"{c[CONFIRMED]} confirmed, {c[REFUTED]} refuted, {c[NOT_REACHED]} not reached, "
               f"{c[MISSED]} missed")
    line = left_out_line(result)
    if line:
        out.append(line)
    return "\n".join(out) + "\n"


def left_out_line(result: Reconciled) -> str | None:
    """How many findings sat in files the run never executed (not given a verdict)."""
    if not result.left_out:
        return None
    n, files = result.left_out, result.left_out_files
    return (f"{n} finding{'s' if n != 1 else ''} in {files} file{'s' if files != 1 else ''} the run never "
            f"executed left out (run them, or narrow --root)")


def _verdict_lines(v) -> list[str]:
    f = v.finding
    head = f"  {f.location.row}:{f.location.column}: {f.code} [{v.verdict}] {f.name}: {f.message}"
    return [head, f"      {v.evidence}"]


def render_json(result: Reconciled) -> str:
    return json.dumps([v.to_dict() for v in result.all()], indent=2) + "\n"


def display_name(real: str) -> str:
    rel = os.path.relpath(real)
    return real if rel.startswith("..") else rel

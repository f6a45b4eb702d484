"""``leaflint probe``: run a program under the monitor and give each finding a verdict.

Exit status (as ``coverage run``: wrapping a command never hides its failure; the table is
in docs/probe.md):

* 2: the probe could not do its job: usage or static-check error, or the program could not
  be started (script or module not found);
* 124: the program was killed at ``--timeout``; 128+N: it was killed by signal N, or the
  probe itself was interrupted by signal N (130 for Ctrl-C, 143 for SIGTERM);
* otherwise the program's own exit status when it is not 0;
* otherwise 1 when a finding is confirmed or missed, else 0.
"""

from __future__ import annotations

import os
import sys
from typing import Optional

import click

_VALUE_OPTIONS = {"--root", "--timeout", "--ready-file", "--output-format", "--select", "-o", "--output-file"}
_FLAG_OPTIONS = {"--keep-going", "-v", "--verbose", "-h", "--help"}


class _ProbeCommand(click.Command):
    """Everything after SCRIPT, or after ``-m MODULE``, belongs to the program."""

    def parse_args(self, ctx, args):
        args = list(args)
        head: list[str] = []
        i = 0
        while i < len(args):
            a = args[i]
            if a == "--":
                head.extend(args[i:])
                break
            if a in ("-m", "--module"):
                head.extend(args[i:i + 2])
                ctx.meta["leaflint_probe_rest"] = args[i + 2:]
                break
            if a.startswith("-m") and len(a) > 2 and not a.startswith("--"):
                head.append(a)
                ctx.meta["leaflint_probe_rest"] = args[i + 1:]
                break
            if a.split("=", 1)[0] in _VALUE_OPTIONS:
                head.append(a)
                if "=" not in a and i + 1 < len(args):
                    head.append(args[i + 1])
                    i += 1
                i += 1
                continue
            if a.startswith("-") and a != "-":
                head.append(a)
                i += 1
                continue
            head.append("--")
            head.append(a)
            ctx.meta["leaflint_probe_rest"] = args[i + 1:]
            break
        return super().parse_args(ctx, head)


@click.command(
    "probe",
    cls=_ProbeCommand,
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False,
                      "help_option_names": ["-h", "--help"]},
)
@click.option("-m", "--module", "module", default=None, metavar="MODULE",
              help="Run a module as `python -m MODULE ARGS...` (e.g. -m pytest -q tests).")
@click.option("--root", default=".", show_default=True, type=click.Path(exists=True),
              help="Project root (a directory or one file): checked statically, and frames in it are "
                   "the user's code.")
@click.option("--timeout", type=float, default=None,
              help="Stop the program after this many seconds (SIGTERM, then SIGKILL); exit status 124.")
@click.option("--ready-file", type=click.Path(dir_okay=False), default=None,
              help="Start the --timeout clock when this file exists (the program creates it once "
                   "set up), so start-up on a slow machine does not count.")
@click.option("--keep-going", is_flag=True,
              help="Re-run a failing in-place op on a leaf under no_grad so one run collects every finding. "
                   "Changes outcomes: code (and tests) that expect the error will not get it.")
@click.option("-v", "--verbose", is_flag=True,
              help="Show each failure inside the monitor (where, and the error), not only their count.")
@click.option("--output-format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--select", multiple=True, help="Rule codes or prefixes to check (as `leaflint check --select`).")
@click.option("-o", "--output-file", type=click.Path(dir_okay=False), default=None,
              help="Write the report to this file instead of stdout.")
@click.argument("script_and_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def probe(ctx, module: Optional[str], root: str, timeout: Optional[float], ready_file: Optional[str],
          keep_going: bool, verbose: bool,
          output_format: str, select: tuple[str, ...], output_file: Optional[str],
          script_and_args: tuple[str, ...]) -> None:
    """Run SCRIPT [ARGS]... (or -m MODULE [ARGS]...) under autograd monitoring and mark
    each static finding under --root confirmed, refuted or not-reached; report runtime
    events the static pass missed. torch.compile is disabled while probing."""
    rest = list(ctx.meta.get("leaflint_probe_rest", []))
    if module:
        target, args, is_module = module, rest, True
    elif script_and_args:
        target, args, is_module = script_and_args[0], list(script_and_args[1:]) + rest, False
    else:
        raise click.UsageError("give a SCRIPT or -m MODULE to run")
    code = run_probe(target, args, is_module=is_module, root=root, timeout=timeout, keep_going=keep_going,
                     output_format=output_format, select=_split(select) or None, output_file=output_file,
                     ready_file=ready_file, verbose=verbose)
    ctx.exit(code)


def _split(values) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def static_findings(root: str, select: Optional[list[str]]):
    """(findings, enabled codes) of the static check of ``root``."""
    from leaflint.checking import check_paths
    from leaflint.rules import select_rules

    result = check_paths([root], select=select)
    enabled = {r.code for r in select_rules(select)}
    return result, enabled


def targets_of(findings, cwd: Optional[str] = None) -> dict[str, list[int]]:
    cwd = cwd or os.getcwd()
    out: dict[str, list[int]] = {}
    for f in findings:
        if f.cell is not None or not f.filename.endswith(".py"):
            continue
        real = os.path.realpath(os.path.join(cwd, f.filename))
        out.setdefault(real, []).extend(range(f.location.row, f.end_location.row + 1))
    return out


def run_probe(target: str, args: list[str], *, is_module: bool, root: str, timeout: Optional[float],
              keep_going: bool, output_format: str, select: Optional[list[str]],
              output_file: Optional[str], ready_file: Optional[str] = None, verbose: bool = False) -> int:
    from leaflint.probe import reconcile, report, runner

    try:
        static, enabled = static_findings(root, select)
    except Exception as exc:  # selection errors, internal errors
        click.echo(f"leaflint probe: static check failed: {exc}", err=True)
        return 2
    for err in getattr(static, "errors", []) or []:
        click.echo(f"leaflint probe: {getattr(err, 'message', err)}", err=True)
    # In JSON mode the program's stdout must not mix with the report.
    stdout = sys.stderr if output_format == "json" and not output_file else None
    run = runner.run(target, args, module=is_module, root=root, timeout=timeout, keep_going=keep_going,
                     targets=targets_of(static.findings), stdout=stdout, ready_file=ready_file)
    if run.not_started:
        click.echo(f"leaflint probe: {run.status_text()}", err=True)
        return runner.NOT_STARTED_STATUS
    coverage_known = not any(str(e.get("what", "")).startswith("coverage:") for e in run.probe_errors)
    result = reconcile.reconcile(static.findings, run.events, run.coverage, enabled_codes=enabled,
                                 coverage_known=coverage_known)
    if output_format == "json":
        text = report.render_json(result)
        for line in report.run_summary(run, verbose) + [report.left_out_line(result) or ""]:
            if line:
                click.echo(line, err=True)
    else:
        text = report.render_text(result, run, verbose)
    if output_file:
        with open(output_file, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        click.echo(text, nl=False)
    if run.importing_torch:
        click.echo("leaflint probe: warning: the program was stopped while importing torch; nothing was "
                   "monitored", err=True)
    elif not run.processes:
        click.echo("leaflint probe: warning: the program never imported torch; nothing was monitored", err=True)
    return exit_status(run, result)


def exit_status(run, result) -> int:
    """The probe's exit status (module docstring): how the program ended comes first."""
    from leaflint.probe import reconcile

    status = run.exit_status()
    if status != 0:
        return status
    counts = result.counts()
    return 1 if counts[reconcile.CONFIRMED] or counts[reconcile.MISSED] else 0


if __name__ == "__main__":
    probe(prog_name="leaflint probe")

"""The command line: ``leaflint check``, ``leaflint rule``.

Exit codes: 0 no findings, 1 findings, 2 usage, configuration or internal error.
"""

from __future__ import annotations

import json
import sys
from typing import Optional

import click

from leaflint import __version__
from leaflint.engine import check_paths
from leaflint.files import Discovery
from leaflint.report import FORMATTERS, render
from leaflint.rules import DIAGNOSTIC_CODES, REGISTRY, SelectionError


def _split(values: tuple[str, ...]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


class LeaflintGroup(click.Group):
    """Usage errors exit 2 (click's default), internal errors too."""


@click.group(cls=LeaflintGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="leaflint")
def main() -> None:
    """leaflint: find the mutations that break PyTorch autograd."""


@main.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--select", multiple=True, help="Rule codes or prefixes to enable (replaces the default set). ALL for every rule.")
@click.option("--ignore", multiple=True, help="Rule codes or prefixes to disable.")
@click.option("--extend-select", multiple=True, help="Rule codes or prefixes to enable on top of the selection.")
@click.option("--output-format", type=click.Choice(sorted(FORMATTERS)), default="concise", show_default=True,
              envvar="LEAFLINT_OUTPUT_FORMAT", help="How to print findings.")
@click.option("-o", "--output-file", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write the findings to this file instead of stdout.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when there are findings.")
@click.option("--force-exclude", is_flag=True, help="Apply excludes and .gitignore to paths given explicitly too.")
@click.option("--no-respect-gitignore", is_flag=True, help="Lint files that .gitignore excludes.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None, help="Worker processes (default: core count).")
@click.option("--statistics", is_flag=True, help="Print a count per rule instead of the findings.")
@click.option("-v", "--verbose", is_flag=True, help="Print tracebacks of internal errors.")
def check(paths: tuple[str, ...], select: tuple[str, ...], ignore: tuple[str, ...], extend_select: tuple[str, ...],
          output_format: str, output_file: Optional[str], exit_zero: bool, force_exclude: bool,
          no_respect_gitignore: bool, jobs: Optional[int], statistics: bool, verbose: bool) -> None:
    """Check PATHS (default: the current directory) for autograd-breaking mutations."""
    discovery = Discovery(respect_gitignore=not no_respect_gitignore, force_exclude=force_exclude)
    try:
        result = check_paths(paths or (".",), select=_split(select) if select else None, ignore=_split(ignore),
                             extend_select=_split(extend_select), discovery=discovery, jobs=jobs)
    except SelectionError as exc:
        raise click.UsageError(str(exc)) from None
    for error in result.errors:
        click.echo(f"leaflint: error: {error.path}: {error.message}", err=True)
    if verbose:
        for failed in result.internal_errors:
            click.echo(f"leaflint: internal error in {failed.filename}:\n{failed.traceback}", err=True)
    findings = result.findings
    if statistics:
        text = _statistics(findings)
    else:
        text = render(output_format, findings)
    if output_file:
        with open(output_file, "w", encoding="utf-8") as handle:
            handle.write(text)
    elif text:
        click.echo(text, nl=False)
    _summary(findings, result.files)
    if result.internal_errors or (result.errors and not result.files):
        sys.exit(2)
    if result.errors:
        sys.exit(2)
    if findings and not exit_zero:
        sys.exit(1)
    sys.exit(0)


def _statistics(findings: list) -> str:
    counts: dict[tuple[str, str], int] = {}
    for finding in findings:
        key = (finding.code, finding.name)
        counts[key] = counts.get(key, 0) + 1
    rows = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return "".join(f"{count:5d}\t{code}\t{name}\n" for (code, name), count in rows)


def _summary(findings: list, files: int) -> None:
    if not findings:
        click.echo(f"All checks passed! ({files} file{'s' if files != 1 else ''} checked)", err=True)
        return
    fixable = sum(1 for f in findings if f.fix is not None)
    noun = "finding" if len(findings) == 1 else "findings"
    line = f"Found {len(findings)} {noun} in {files} file{'s' if files != 1 else ''} checked."
    if fixable:
        line += f"\n[*] {fixable} fixable with the `--fix` option."
    click.echo(line, err=True)


@main.command()
@click.argument("code", required=False)
@click.option("--all", "show_all", is_flag=True, help="List every rule.")
@click.option("--output-format", type=click.Choice(["text", "json"]), default="text", show_default=True)
def rule(code: Optional[str], show_all: bool, output_format: str) -> None:
    """Explain a rule (leaflint rule LL101) or list them all (--all)."""
    if show_all or code is None:
        rules = [REGISTRY[c] for c in sorted(REGISTRY)]
        if output_format == "json":
            click.echo(json.dumps([_rule_dict(r) for r in rules], indent=2))
        else:
            for r in rules:
                click.echo(f"{r.code}  {r.name:<32} {'' if r.default else '(opt-in) '}{r.summary}")
        return
    cls = REGISTRY.get(code.upper())
    if cls is None:
        if code.upper() in DIAGNOSTIC_CODES:
            click.echo(f"{code.upper()} is a diagnostic (syntax error, unreadable file or internal error), not a rule.")
            return
        raise click.UsageError(f"unknown rule '{code}' (see `leaflint rule --all`)")
    if output_format == "json":
        click.echo(json.dumps(_rule_dict(cls), indent=2))
    else:
        click.echo(cls.document(), nl=False)


def _rule_dict(cls) -> dict:
    return {"code": cls.code, "name": cls.name, "summary": cls.summary, "default": cls.default,
            "docs": cls.docs.strip(), "valid": cls.valid, "invalid": cls.invalid}


if __name__ == "__main__":
    main()

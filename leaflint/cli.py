"""The command line: ``leaflint check``, ``leaflint rule``.

Exit codes: 0 no findings, 1 findings, 2 usage, configuration or internal error.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Optional

import click

from leaflint import __version__
from leaflint.config import ConfigError, Overrides, Resolver
from leaflint.checking import check_paths
from leaflint.engine import CheckResult, lint_bytes
from leaflint.files import display_path
from leaflint.findings import DIAGNOSTIC_CODES, Finding
from leaflint.report import FORMATTERS, render
from leaflint.report.progress import Progress
from leaflint.rules import CATALOG, SelectionError, lookup

# Only what every command needs is imported here: libcst, the rules, the semantic model and
# the fix builders are imported where they are used (``leaflint --version`` and a check whose
# files all hit the cache never load them; tests/test_cli_conventions.py checks it).


FORMATTERS_IN_COLOR = ("concise", "full", "grouped")  # the formats that colour a terminal's output


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
@click.option("--output-format", type=click.Choice(list(FORMATTERS)), default="concise", show_default=True,
              envvar="LEAFLINT_OUTPUT_FORMAT", help="How to print findings (env: LEAFLINT_OUTPUT_FORMAT).")
@click.option("-o", "--output-file", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write the findings to this file instead of stdout.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when there are findings.")
@click.option("--force-exclude", is_flag=True, help="Apply excludes and .gitignore to paths given explicitly too.")
@click.option("--respect-gitignore/--no-respect-gitignore", default=None,
              help="Skip files that .gitignore excludes (default: yes, or `respect-gitignore` in the configuration).")
@click.option("--exclude", multiple=True, help="Patterns to exclude (replaces the defaults and the configured `exclude`).")
@click.option("--extend-exclude", multiple=True, help="Patterns to exclude on top of `exclude`.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="Use this configuration file (a pyproject.toml with [tool.leaflint]) for every path.")
@click.option("--isolated", is_flag=True, help="Ignore every configuration file.")
@click.option("--show-settings", is_flag=True, help="Print the settings in effect for the first path and exit.")
@click.option("--stdin-filename", default=None, metavar="NAME",
              help="With `-` as the path: read the source from stdin and report it (and configure it) as NAME.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None, help="Worker processes (default: core count).")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the cache of per-file findings.")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None, envvar="LEAFLINT_CACHE_DIR",
              help="Cache directory (env: LEAFLINT_CACHE_DIR; default: `cache-dir` in the configuration, "
                   "else .leaflint_cache in the project root).")
@click.option("--statistics", is_flag=True, help="Print a count per rule and the total instead of the findings.")
@click.option("--add-noqa", is_flag=True,
              help="Add `# noqa: CODE` to every line with a finding (idempotent; notebooks too), then exit 0.")
@click.option("-q", "--quiet", is_flag=True, help="Print the findings, nothing else (no summary).")
@click.option("-s", "--silent", is_flag=True, help="Print nothing but errors; the exit code says whether there are findings.")
@click.option("--exit-non-zero-on-fix", is_flag=True, help="With --fix: exit 1 when a fix was applied, even if no finding remains.")
@click.option("--fix", is_flag=True, help="Apply the safe fixes (with --unsafe-fixes, the unsafe ones too); report what remains.")
@click.option("--unsafe-fixes", is_flag=True, help="Also apply the unsafe fixes (with --fix / --diff) and mark them with [*].")
@click.option("--diff", is_flag=True, help="Print the fixes as a unified diff and write nothing; exit 1 if there would be changes.")
@click.option("--show-fixes", is_flag=True, help="With --fix / --diff: list the fixes applied, per file and rule.")
@click.option("-v", "--verbose", is_flag=True, help="Print tracebacks of internal errors.")
def check(paths: tuple[str, ...], select: tuple[str, ...], ignore: tuple[str, ...], extend_select: tuple[str, ...],
          output_format: str, output_file: Optional[str], exit_zero: bool, force_exclude: bool,
          respect_gitignore: Optional[bool], exclude: tuple[str, ...], extend_exclude: tuple[str, ...],
          config_path: Optional[str], isolated: bool, show_settings: bool, stdin_filename: Optional[str],
          jobs: Optional[int], no_cache: bool, cache_dir: Optional[str], statistics: bool,
          verbose: bool, fix: bool = False, unsafe_fixes: bool = False, diff: bool = False,
          show_fixes: bool = False, add_noqa: bool = False, quiet: bool = False, silent: bool = False,
          exit_non_zero_on_fix: bool = False) -> None:
    """Check PATHS (default: the current directory) for autograd-breaking mutations.

    `-` reads one file from stdin (name it with --stdin-filename). Settings come from the
    nearest pyproject.toml with a [tool.leaflint] table; options override them."""
    use_stdin = paths == ("-",) or (not paths and stdin_filename is not None)
    if "-" in paths and not use_stdin:
        raise click.UsageError("`-` (stdin) cannot be combined with other paths")
    overrides = Overrides(
        select=tuple(_split(select)) if select else None, ignore=tuple(_split(ignore)),
        extend_select=tuple(_split(extend_select)), exclude=tuple(_split(exclude)) if exclude else None,
        extend_exclude=tuple(_split(extend_exclude)), respect_gitignore=respect_gitignore,
        cache_dir=cache_dir or None)
    try:
        resolver = Resolver(overrides, config=config_path, isolated=isolated)
        discovery = resolver.discovery(force_exclude=force_exclude)
        if show_settings:
            _show_settings(resolver, discovery, stdin_filename or "-" if use_stdin else None, paths or (".",))
            sys.exit(0)
        if use_stdin:
            result = _check_stdin(stdin_filename, resolver, discovery)
        else:
            progress = Progress(sys.stderr)
            try:
                result = check_paths(paths or (".",), discovery=discovery, jobs=jobs, resolver=resolver,
                                     cache=not no_cache,
                                     cache_dir=None if no_cache else resolver.cache_dir(paths or (".",)),
                                     progress=progress if progress.enabled else None)
            finally:
                progress.close()
    except SelectionError as exc:
        raise click.UsageError(str(exc)) from None
    except ConfigError as exc:
        click.echo(f"leaflint: error: {exc}", err=True)
        sys.exit(2)
    # Errors (paths that do not exist, unreadable directories) go to stderr, one line each,
    # before anything else; findings go to stdout (or -o).
    for error in result.errors:
        click.echo(f"leaflint: error: {error.path}: {error.message}", err=True)
    if verbose:
        for failed in result.internal_errors:
            click.echo(f"leaflint: internal error in {failed.filename}:\n{failed.traceback}", err=True)
    if add_noqa:
        _add_noqa(result, use_stdin, silent)
    findings = result.findings
    fixed = None
    if fix or diff:
        findings, fixed = _apply_fixes(result, resolver, use_stdin, unsafe_fixes, diff, show_fixes)
    color = (output_file is None and output_format in FORMATTERS_IN_COLOR and _is_tty(sys.stdout)
             and not os.environ.get("NO_COLOR"))
    if silent:
        text = ""
    elif statistics:
        text = _statistics(findings, unsafe_fixes)
    else:
        text = render(output_format, findings, files=result.paths, color=color, unsafe_fixes=unsafe_fixes)
    if output_file:
        with open(output_file, "w", encoding="utf-8") as handle:
            handle.write(text)
    elif text:
        click.echo(text, nl=False, color=color or None)
    if not (quiet or silent or statistics):
        _summary(findings, result.files, unsafe_fixes, fixed, failed=bool(result.errors))
    if result.internal_errors or result.errors:
        sys.exit(2)
    if findings and not exit_zero:
        sys.exit(1)
    if fixed and exit_non_zero_on_fix:
        sys.exit(1)
    sys.exit(0)


def _is_tty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _check_stdin(stdin_filename: Optional[str], resolver: Resolver, discovery) -> CheckResult:
    """Lint the source on stdin as if it were the file ``stdin_filename`` (its configuration,
    its ``per-file-ignores``, its suffix: ``.ipynb`` reads a notebook)."""
    name = display_path(stdin_filename) if stdin_filename else "-"
    data = sys.stdin.buffer.read()
    if stdin_filename and discovery.force_exclude and discovery.force_excluded(stdin_filename):
        return CheckResult([], [], 0)
    from leaflint.rules import REGISTRY

    settings = resolver.for_path(stdin_filename or "-")
    file_result = lint_bytes(data, name, [REGISTRY[code]() for code in settings.rules])
    findings = sorted(resolver.filter(file_result.findings), key=Finding.sort_key)
    internal = [file_result] if file_result.internal_error else []
    return CheckResult(findings, [], 1, internal, [name])


def _show_settings(resolver: Resolver, discovery, stdin_name: Optional[str], paths: tuple[str, ...]) -> None:
    if stdin_name is not None:
        target = stdin_name
    else:
        target = next(iter(discovery.discover(list(paths))), paths[0])
        if os.path.isdir(target):
            click.echo(resolver.for_directory(target).show(target), nl=False)
            return
    click.echo(resolver.for_path(target).show(target), nl=False)


def _statistics(findings: list, unsafe_fixes: bool = False) -> str:
    """ruff's --statistics: a count per rule, most frequent first, then the total."""
    counts: dict[tuple[str, str], int] = {}
    for finding in findings:
        key = (finding.code, finding.name)
        counts[key] = counts.get(key, 0) + 1
    rows = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    out = "".join(f"{count:5d}\t{code}\t{name}\n" for (code, name), count in rows)
    if findings:
        out += f"Found {len(findings)} {'finding' if len(findings) == 1 else 'findings'}.\n"
        hint = _fixable_hint(findings, unsafe_fixes)
        if hint:
            out += hint + "\n"
    return out


def _summary(findings: list, files: int, unsafe_fixes: bool = False, fixed: Optional[int] = None,
             failed: bool = False) -> None:
    """ruff's summary; ``fixed``: the number of findings ``--fix`` fixed (None: no --fix);
    ``failed``: a path could not be checked (then no "All checks passed!")."""
    checked = f"{files} file{'s' if files != 1 else ''} checked"
    if not findings and not fixed:
        if not failed:
            click.echo(f"All checks passed! ({checked})", err=True)
        return
    total = len(findings) + (fixed or 0)
    line = f"Found {total} {'finding' if total == 1 else 'findings'} in {checked}"
    line += f" ({fixed} fixed, {len(findings)} remaining)." if fixed is not None else "."
    hint = _fixable_hint(findings, unsafe_fixes)
    if hint:
        line += "\n" + hint
    click.echo(line, err=True)


def _fixable_hint(findings: list, unsafe_fixes: bool) -> str:
    fixable = sum(1 for f in findings if f.fix is not None and (unsafe_fixes or f.fix.applicability == "safe"))
    hidden = sum(1 for f in findings if f.fix is not None) - fixable
    hint = (f" ({hidden} hidden fix{'es' if hidden != 1 else ''} can be enabled with the `--unsafe-fixes` option)"
            if hidden else "")
    if fixable:
        return f"[*] {fixable} fixable with the `--fix` option{hint}."
    if hidden:
        return f"No fixes available{hint}."
    return ""


def _add_noqa(result: CheckResult, use_stdin: bool, silent: bool) -> None:
    """--add-noqa: a ``# noqa: CODE`` on every line with a finding, written atomically; exit 0."""
    from leaflint import noqa

    if use_stdin:
        raise click.UsageError("--add-noqa works on files, not on stdin")
    added = 0
    for filename, count, error in noqa.add_to_files(result.findings):
        if error is not None:
            click.echo(f"leaflint: error: {filename}: cannot add noqa comments: {error}", err=True)
        added += count
    if not silent:
        click.echo(f"Added {added} noqa directive{'s' if added != 1 else ''}.", err=True)
    sys.exit(2 if result.errors or result.internal_errors else 0)


def _apply_fixes(result: CheckResult, resolver: Resolver, use_stdin: bool, unsafe: bool, diff: bool,
                 show: bool) -> tuple[list, int]:
    """--fix / --diff: fix the files (verified, see leaflint.fix); with --diff print the diff
    and exit (1 if there would be changes), with --fix write them. Returns the findings that
    remain and the number fixed."""
    from leaflint import fix as fixes
    from leaflint.engine import lint_source
    from leaflint.rules import REGISTRY

    if use_stdin:
        raise click.UsageError("--fix and --diff work on files, not on stdin")

    def lint_for(path: str):
        rules = [REGISTRY[code]() for code in resolver.for_path(path).rules]
        return (lambda text, name: lint_source(text, name, rules)), resolver.filter

    run = fixes.fix_paths(result.findings, lint_for, unsafe)
    for rejected in run.rejected:
        click.echo(f"leaflint: {rejected.describe()}", err=True)
    for file_fix in run.files:
        if file_fix.note:
            click.echo(f"leaflint: {file_fix.filename} not fixed: {file_fix.note}", err=True)
    if diff:
        out = "".join(f.diff for f in run.changed)
        if out:
            click.echo(out, nl=False)
        if show:
            click.echo(fixes.summarize(run.applied).replace("Fixed", "Would fix", 1), nl=False, err=True)
        count = len(run.applied)
        click.echo(f"Would fix {count} finding{'s' if count != 1 else ''}." if count else "No fixes available.",
                   err=True)
        sys.exit(2 if result.internal_errors or result.errors else 1 if run.changed else 0)
    for file_fix in run.changed:
        try:
            fixes.write_atomic(file_fix.filename, file_fix.after)
        except OSError as exc:
            click.echo(f"leaflint: error: {file_fix.filename}: cannot write the fixes: {exc.strerror or exc}", err=True)
            sys.exit(2)
    if show:
        click.echo(fixes.summarize(run.applied), nl=False, err=True)
    done = {f.filename: f for f in run.changed}
    findings = [f for f in result.findings if f.filename not in done]
    findings += [f for file_fix in done.values() for f in file_fix.remaining]
    return sorted(findings, key=Finding.sort_key), sum(len(f.applied) for f in done.values())


@main.command()
@click.argument("code", required=False)
@click.option("--all", "show_all", is_flag=True, help="List every rule.")
@click.option("--output-format", type=click.Choice(["text", "json"]), default="text", show_default=True)
def rule(code: Optional[str], show_all: bool, output_format: str) -> None:
    """Explain a rule: by code (LL101), by name (inplace-method-on-leaf) or every rule of a
    prefix (LL1); --all lists them all."""
    from leaflint.rules import REGISTRY

    if show_all or code is None:
        rules = [REGISTRY[c] for c in sorted(REGISTRY)]
        if output_format == "json":
            click.echo(json.dumps([_rule_dict(r) for r in rules], indent=2))
        else:
            for r in rules:
                click.echo(f"{r.code}  {r.name:<32} {'' if r.default else '(opt-in) '}{r.summary}")
        return
    if code.upper() in DIAGNOSTIC_CODES:
        click.echo(f"{code.upper()} is a diagnostic (syntax error, unreadable file or internal error), not a rule.")
        return
    codes = lookup(code)
    if not codes:
        raise click.UsageError(f"unknown rule '{code}': give a code (LL101), a prefix (LL1) or a name "
                               f"({CATALOG['LL101'][0]}); see `leaflint rule --all`")
    rules = [REGISTRY[c] for c in codes]
    if output_format == "json":
        data = [_rule_dict(r) for r in rules]
        click.echo(json.dumps(data[0] if len(data) == 1 else data, indent=2))
    else:
        click.echo("\n".join(r.document() for r in rules), nl=False)


def _rule_dict(cls) -> dict:
    return {"code": cls.code, "name": cls.name, "summary": cls.summary, "default": cls.default,
            "docs": cls.docs.strip(), "valid": [example.code for example in cls.valid],
            "invalid": [example.code for example in cls.invalid]}


@main.command()
def server() -> None:
    """Run the language server (LSP over stdio) for editors; needs `pip install 'leaflint[server]'`."""
    try:
        from leaflint.server.server import serve
    except ImportError as exc:
        if (exc.name or "").split(".")[0] not in ("pygls", "lsprotocol"):
            raise
        click.echo(f"leaflint: error: the server needs the `server` extra (pip install 'leaflint[server]'): {exc}", err=True)
        sys.exit(2)
    serve()


from leaflint.probe.cli import probe as _probe; main.add_command(_probe)  # noqa: E402,E702  (never imports torch)

if __name__ == "__main__":
    main()

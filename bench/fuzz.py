#!/usr/bin/env python3
"""Fuzz the whole static pipeline: no exception may escape, fixes must verify.

    python bench/fuzz.py                        # 1000 examples of each strategy
    python bench/fuzz.py -n 5000 --strategy mutate --seed 7
    python bench/fuzz.py -n 300 --strategy grammar,node --no-fix

Strategies:

* ``grammar``: ``hypothesmith.from_grammar()``, programs from Python's grammar (mostly
  nonsense that parses; exercises the parser and the model's tolerance of odd shapes);
* ``node``: ``hypothesmith.from_node()``, programs built from libcst nodes;
* ``mutate``: this script's own mutator over ``fixtures/*.py``: delete, duplicate, swap or
  dedent lines, wrap a line in ``with torch.no_grad():``, splice lines from another fixture,
  insert tokens (``.data``, ``nn.Parameter(``, ``requires_grad=True``, ``@torch.no_grad()``,
  brackets, colons): near-valid torch code that reaches deep into the analysis.

Every program goes through ``leaflint.engine.lint_source`` with every rule selected, as is and
(for the hypothesmith strategies) prefixed with ``import torch`` so that the prefilter lets it
through. Checked on each result:

* no exception escapes (an unparsable program must give LL001);
* every finding lies inside the text (1-based rows and columns, end not before start);
* linting is deterministic (the ``mutate`` strategy lints every program twice);
* ``mutate`` only: an LL1 finding on a one-line statement goes away when that line is wrapped
  in ``with torch.no_grad():`` (what the finding's message tells the user to do);
* fixes (``leaflint.fix.fix_text``, unsafe ones included): the fixed text parses (libcst and
  CPython), no rule reports more than before, and every applied fix's finding count went down.
  Fixes that fail verification must have been dropped, not applied.

Prints the counts (examples, LL001, prefiltered, findings per rule, fixes applied and
rejected) and every failure with its minimal program (hypothesmith shrinks it; the mutator
reports the mutations). Exit status 1 when something failed. Writes nothing.
"""

from __future__ import annotations

import argparse
import ast
import glob
import os
import random
import sys
import time
import traceback
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Optional

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from leaflint.engine import lint_source  # noqa: E402
from leaflint.rules import select_rules  # noqa: E402

try:
    from leaflint import fix as _fixes  # noqa: E402
except ImportError:  # pragma: no cover
    _fixes = None

FIXTURES = os.path.join(REPO, "fixtures")
STRATEGIES = ("grammar", "node", "mutate")


@dataclass
class Stats:
    examples: int = 0
    programs: int = 0  # lint_source calls (a hypothesmith example is linted twice)
    syntax_errors: int = 0
    prefiltered: int = 0
    with_findings: int = 0
    codes: Counter = field(default_factory=Counter)
    fixed_programs: int = 0
    fixes_applied: int = 0
    fixes_rejected: int = 0
    failures: list = field(default_factory=list)  # (strategy, program, problem)
    seconds: float = 0.0

    def line(self, name: str) -> str:
        codes = ", ".join(f"{c} {n}" for c, n in sorted(self.codes.items())) or "none"
        return (f"{name}: {self.examples} examples ({self.programs} programs linted) in {self.seconds:.1f}s; "
                f"LL001 {self.syntax_errors}, prefiltered {self.prefiltered}, with findings {self.with_findings} "
                f"({codes}); fixes applied {self.fixes_applied} in {self.fixed_programs} programs, "
                f"rejected {self.fixes_rejected}; failures {len(self.failures)}")


# ----------------------------------------------------------------------------- the checks


def _positions_problem(text: str, findings) -> Optional[str]:
    lines = text.splitlines() or [""]
    for f in findings:
        start, end = f.location, f.end_location
        if start.row < 1 or start.column < 1 or end.row < 1 or end.column < 1:
            return f"{f.code} at {start.row}:{start.column}-{end.row}:{end.column}: not 1-based"
        if (end.row, end.column) < (start.row, start.column):
            return f"{f.code} ends before it starts ({start} .. {end})"
        if start.row > len(lines) + 1 or end.row > len(lines) + 1:
            return f"{f.code} at row {start.row} beyond the {len(lines)} lines of the text"
    return None


def _compiles(text: str) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            compile(text, "<fuzz>", "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return False
    return True


def check_program(text: str, rules, stats: Stats, fix: bool = True, twice: bool = False) -> Optional[str]:
    """None if ``text`` goes through the pipeline as it should, else what went wrong."""
    stats.programs += 1
    lint: Callable[[str], list] = lambda t: lint_source(t, "fuzz.py", rules)  # noqa: E731
    try:
        findings = lint(text)
    except BaseException as exc:  # noqa: B036
        if isinstance(exc, KeyboardInterrupt):
            raise
        return "exception escaped lint_source:\n" + traceback.format_exc()
    codes = [f.code for f in findings]
    if "LL001" in codes:
        stats.syntax_errors += 1
        if len(findings) != 1:
            return f"LL001 with other findings: {codes}"
        return None
    if not findings:
        from leaflint.engine import PREFILTER

        if not PREFILTER.search(text):
            stats.prefiltered += 1
        return None
    stats.with_findings += 1
    stats.codes.update(codes)
    problem = _positions_problem(text, findings)
    if problem:
        return problem
    if twice:
        again = [f.to_dict() for f in lint(text)]
        if again != [f.to_dict() for f in findings]:
            return "linting the same text twice gave different findings"
        problem = _no_grad_wrap_problem(text, findings, lint)
        if problem:
            return problem
    if fix and _fixes is not None and any(f.fix is not None for f in findings):
        return _check_fixes(text, findings, lint, stats)
    return None


def _no_grad_wrap_problem(text: str, findings, lint) -> Optional[str]:
    """Metamorphic check of LL1 (in-place on a leaf with grad mode on): wrapping the flagged
    one-line statement in ``with torch.no_grad():`` must make that finding go away."""
    lines = text.split("\n")
    if "import torch" not in lines:
        return None
    for f in findings:
        if not f.code.startswith("LL1") or f.location.row != f.end_location.row:
            continue
        row = f.location.row
        line = lines[row - 1]
        stripped = line.strip()
        if not stripped or stripped.endswith(":") or stripped.startswith(("@", "#")) or not _compiles(stripped):
            continue
        indent = line[: len(line) - len(stripped)]
        wrapped = lines[: row - 1] + [indent + "with torch.no_grad():", "    " + line] + lines[row:]
        after = lint("\n".join(wrapped))
        if any(a.code == "LL001" for a in after):
            continue  # e.g. the line was the body of a one-line compound statement
        still = [a for a in after if a.code == f.code and a.location.row == row + 1]
        if still:
            return (f"{f.code} at line {row} is still reported after wrapping the line in "
                    f"`with torch.no_grad():`: {still[0].message}")
    return None


def _check_fixes(text: str, before, lint, stats: Stats) -> Optional[str]:
    try:
        result = _fixes.fix_text(text, lint, unsafe=True)
    except BaseException as exc:  # noqa: B036
        if isinstance(exc, KeyboardInterrupt):
            raise
        return "exception escaped fixes.fix_text:\n" + traceback.format_exc()
    stats.fixes_rejected += len(result.rejected)
    if result.text == text:
        if result.applied:
            return f"{len(result.applied)} fixes reported applied but the text did not change"
        return None
    stats.fixed_programs += 1
    stats.fixes_applied += len(result.applied)
    if not result.applied:
        return "the text changed but no fix is reported applied"
    if _compiles(text) and not _compiles(result.text):
        return "the fixed text does not compile (the original did)"
    try:
        after = lint(result.text)
    except BaseException:  # noqa: B036
        return "exception escaped lint_source on the fixed text:\n" + traceback.format_exc()
    if any(f.code == "LL001" for f in after):
        return "the fixed text does not parse"
    was, now = Counter(f.code for f in before), Counter(f.code for f in after)
    for code, count in now.items():
        if count > was[code]:
            return f"after fixing, {code} is reported {count} times (was {was[code]})"
    for code, count in Counter(f.code for f in result.applied).items():
        if now[code] > was[code] - count:
            return f"{count} {code} fixes applied but {code} went from {was[code]} to {now[code]}"
    return None


# ------------------------------------------------------------------------------- mutator

INSERTS = ["(", ")", ":", ".data", ".data = ", "nn.Parameter(", "requires_grad=True", ", requires_grad=True",
           ".add_(1)", ".zero_()", "[0] = 1", " -= 1", "@torch.no_grad()\n", "torch.no_grad()", "self.", "lambda: ",
           "with torch.enable_grad():\n", "torch.set_grad_enabled(False)\n", "global w\n", "del ", "*", "**",
           ".backward()", "async ", "await ", "yield ", "return ", "\\\n", "\t", "'", '"""', "#", ";", ",", "=",
           "nonlocal x\n", "class C(nn.Module):\n", "def forward(self, x):\n", "super().__init__()\n"]


def load_fixtures() -> list[tuple[str, str]]:
    out = []
    for path in sorted(glob.glob(os.path.join(FIXTURES, "*.py"))):
        if os.path.basename(path).startswith("_"):
            continue
        with open(path, encoding="utf-8") as handle:
            out.append((os.path.basename(path), handle.read()))
    return out


class Mutator:
    """Seeded mutations of the fixtures; ``mutate()`` gives (program, description)."""

    def __init__(self, seed: int, fixtures: Optional[list[tuple[str, str]]] = None) -> None:
        self.rng = random.Random(seed)
        self.fixtures = fixtures or load_fixtures()

    def mutate(self, valid: float = 0.75, tries: int = 20) -> tuple[str, str]:
        """A mutant; with probability ``valid`` one that CPython compiles (near-valid code goes
        deeper into the analysis than a syntax error does)."""
        want_valid = self.rng.random() < valid
        for _ in range(tries):
            program, how = self._mutate_once()
            if not want_valid or _compiles(program):
                return program, how
        return program, how

    def _mutate_once(self) -> tuple[str, str]:
        name, text = self.rng.choice(self.fixtures)
        lines = text.split("\n")
        steps = []
        for _ in range(self.rng.randint(1, 4)):
            op = self.rng.choice(self._OPS)
            lines, what = op(self, lines)
            steps.append(what)
        return "\n".join(lines), f"{name}: " + "; ".join(steps)

    def _line(self, lines) -> int:
        return self.rng.randrange(len(lines)) if lines else 0

    def _delete(self, lines):
        i = self._line(lines)
        return lines[:i] + lines[i + 1:], f"delete line {i + 1}"

    def _duplicate(self, lines):
        i = self._line(lines)
        return lines[:i + 1] + lines[i:], f"duplicate line {i + 1}"

    def _swap(self, lines):
        if len(lines) < 2:
            return lines, "swap (too short)"
        i = self.rng.randrange(len(lines) - 1)
        lines = list(lines)
        lines[i], lines[i + 1] = lines[i + 1], lines[i]
        return lines, f"swap lines {i + 1} and {i + 2}"

    def _wrap(self, lines):
        """Wrap a line (and, sometimes, the next few at the same indentation) in no_grad."""
        i = self._line(lines)
        if not lines:
            return lines, "wrap (empty)"
        indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
        n = 1
        while self.rng.random() < 0.3 and i + n < len(lines) and lines[i + n].startswith(indent):
            n += 1
        header = self.rng.choice(["with torch.no_grad():", "with torch.inference_mode():",
                                  "with torch.set_grad_enabled(False):", "with torch.enable_grad():"])
        body = ["    " + line if line.strip() else line for line in lines[i:i + n]]
        return lines[:i] + [indent + header] + body + lines[i + n:], f"wrap lines {i + 1}-{i + n} in `{header}`"

    def _dedent(self, lines):
        i = self._line(lines)
        if not lines:
            return lines, "dedent (empty)"
        return lines[:i] + [lines[i][4:] if lines[i].startswith("    ") else lines[i]] + lines[i + 1:], \
            f"dedent line {i + 1}"

    def _splice(self, lines):
        name, other = self.rng.choice(self.fixtures)
        other_lines = other.split("\n")
        j = self.rng.randrange(len(other_lines))
        k = min(len(other_lines), j + self.rng.randint(1, 6))
        i = self._line(lines)
        return lines[:i] + other_lines[j:k] + lines[i:], f"splice {name} lines {j + 1}-{k} at line {i + 1}"

    def _insert(self, lines):
        i = self._line(lines)
        if not lines:
            return [self.rng.choice(INSERTS)], "insert into empty"
        line = lines[i]
        at = self.rng.randint(0, len(line))
        token = self.rng.choice(INSERTS)
        return lines[:i] + [line[:at] + token + line[at:]] + lines[i + 1:], \
            f"insert {token!r} at line {i + 1} column {at + 1}"

    def _cut(self, lines):
        i = self._line(lines)
        if not lines or not lines[i]:
            return lines, "cut (empty line)"
        at = self.rng.randrange(len(lines[i]))
        n = self.rng.randint(1, 12)
        return lines[:i] + [lines[i][:at] + lines[i][at + n:]] + lines[i + 1:], \
            f"cut {n} characters at line {i + 1} column {at + 1}"

    def _flip(self, lines):
        i = self._line(lines)
        if not lines:
            return lines, "flip (empty)"
        pairs = [("True", "False"), ("False", "True"), ("no_grad", "enable_grad"), ("requires_grad=False",
                                                                                   "requires_grad=True"),
                 ("__init__", "forward"), ("forward", "helper"), (".data", ""), (".detach()", "")]
        a, b = self.rng.choice(pairs)
        return lines[:i] + [lines[i].replace(a, b)] + lines[i + 1:], f"replace {a!r} with {b!r} on line {i + 1}"

    _OPS = [_delete, _duplicate, _swap, _wrap, _wrap, _dedent, _splice, _insert, _insert, _cut, _flip]


def run_mutations(n: int, seed: int, rules, stats: Stats, fix: bool = True) -> None:
    """``n`` mutants of the fixtures (a budget in examples: the same work on any machine)."""
    mutator = Mutator(seed)
    for _ in range(n):
        program, how = mutator.mutate()
        stats.examples += 1
        problem = check_program(program, rules, stats, fix=fix, twice=True)
        if problem:
            stats.failures.append(("mutate", program, f"{problem}\n(mutations: {how})"))


# --------------------------------------------------------------------------- hypothesmith


def run_hypothesmith(kind: str, n: int, seed: Optional[int], rules, stats: Stats, fix: bool = True,
                     derandomize: bool = False) -> None:
    import hypothesmith
    from hypothesis import HealthCheck, given, seed as hseed, settings

    strategy = hypothesmith.from_grammar() if kind == "grammar" else hypothesmith.from_node()
    last_failure: dict = {}

    def body(source: str) -> None:
        stats.examples += 1
        for program in (source, "import torch\n" + source):
            problem = check_program(program, rules, stats, fix=fix)
            if problem:
                last_failure.update(program=program, problem=problem)
                raise AssertionError(problem)

    test = settings(max_examples=n, deadline=None, database=None, derandomize=derandomize,
                    suppress_health_check=list(HealthCheck), print_blob=False)(given(strategy)(body))
    if seed is not None and not derandomize:
        test = hseed(seed)(test)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # hypothesmith compiles what it generates
            test()
    except AssertionError:
        # hypothesis re-runs the shrunk example last: that is the minimal failing program
        stats.failures.append((kind, last_failure.get("program", "?"), last_failure.get("problem", "?")))


# ----------------------------------------------------------------------------------- main


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--examples", type=int, default=1000, help="examples per strategy (default 1000)")
    parser.add_argument("--strategy", default=",".join(STRATEGIES),
                        help=f"comma-separated, among {', '.join(STRATEGIES)} (default: all)")
    parser.add_argument("--seed", type=int, default=None, help="seed (default: random, printed)")
    parser.add_argument("--no-fix", action="store_true", help="do not run the fixes on the programs")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(2**31)
    rules = select_rules(["ALL"])
    print(f"leaflint fuzz: seed {seed}, {args.examples} examples per strategy, "
          f"fixes {'off' if args.no_fix or _fixes is None else 'on'}", flush=True)
    failed = False
    for kind in [k.strip() for k in args.strategy.split(",") if k.strip()]:
        if kind not in STRATEGIES:
            parser.error(f"unknown strategy {kind!r}")
        stats = Stats()
        start = time.monotonic()
        if kind == "mutate":
            run_mutations(args.examples, seed, rules, stats, fix=not args.no_fix)
        else:
            run_hypothesmith(kind, args.examples, seed, rules, stats, fix=not args.no_fix)
        stats.seconds = time.monotonic() - start
        print(stats.line(kind), flush=True)
        for strategy, program, problem in stats.failures:
            failed = True
            print(f"\nFAILURE ({strategy}): {problem}\n--- program ---\n{program}\n--- end ---", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

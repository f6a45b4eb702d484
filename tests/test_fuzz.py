"""Fuzzing the whole static pipeline (issue 8): a bounded run of ``bench/fuzz.py``'s strategies.

hypothesmith programs (``from_grammar``, ``from_node``) and mutants of the fixtures go through
``lint_source`` with every rule selected; no exception may escape (LL001 for what does not
parse), findings must lie inside the text, and fixes must verify or not be applied. The long
run is ``python bench/fuzz.py -n N``. The examples are derandomized so that a failure here is
reproducible; ``bench/fuzz.py`` explores with fresh seeds.
"""

from __future__ import annotations

import importlib.util
import os
import itertools
import subprocess
import sys
import time
import types

import pytest

from leaflint.rules import REGISTRY, select_rules
from hang_guard import HANG_GUARD

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FUZZ_PATH = os.path.join(REPO, "bench", "fuzz.py")


@pytest.fixture(scope="module")
def fuzz():
    spec = importlib.util.spec_from_file_location("leaflint_bench_fuzz", FUZZ_PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def slow_clock(fuzz, monkeypatch):
    """The harness sees a machine so slow that 100 s pass between two clock readings: a run
    budgeted in examples does the same work anyway (a loaded CI machine must not fail it)."""
    ticks = itertools.count(step=100.0)
    clock = types.SimpleNamespace(**{name: getattr(time, name) for name in dir(time) if not name.startswith("_")})
    clock.monotonic = lambda: float(next(ticks))
    monkeypatch.setattr(fuzz, "time", clock)


@pytest.fixture(scope="module")
def rules():
    return select_rules(["ALL"])


def _report(stats):
    return "\n\n".join(f"[{kind}] {problem}\n--- program ---\n{program}" for kind, program, problem in stats.failures)


@pytest.mark.parametrize("kind, examples", [("grammar", 100), ("node", 30)])
def test_hypothesmith_programs(fuzz, rules, kind, examples, slow_clock):
    pytest.importorskip("hypothesmith")
    stats = fuzz.Stats()
    fuzz.run_hypothesmith(kind, examples, None, rules, stats, derandomize=True)
    assert not stats.failures, _report(stats)
    assert stats.examples >= examples
    assert stats.programs == 2 * stats.examples  # as generated, and after `import torch`


def test_mutated_fixtures(fuzz, rules, slow_clock):
    stats = fuzz.Stats()
    fuzz.run_mutations(100, seed=20240601, rules=rules, stats=stats)
    assert not stats.failures, _report(stats)
    assert stats.examples == 100
    # the mutants reach the analysis and the fixes, not just the parser
    assert stats.syntax_errors < stats.examples / 2
    assert stats.with_findings > stats.examples / 5
    assert len(stats.codes) >= 8
    if fuzz._fixes is not None:
        assert stats.fixes_applied > 0


def test_mutator_is_deterministic(fuzz):
    first = [fuzz.Mutator(7).mutate() for _ in range(1)]
    again = [fuzz.Mutator(7).mutate() for _ in range(1)]
    assert first == again
    mutator = fuzz.Mutator(3)
    programs = {mutator.mutate()[0] for _ in range(30)}
    assert len(programs) > 20


# ------------------------------------------------------------ the oracle catches real bugs


def test_harness_reports_an_escaping_exception(fuzz, rules, monkeypatch):
    def check(self, model):
        raise ZeroDivisionError("rule bug")

    monkeypatch.setattr(REGISTRY["LL101"], "check", check)
    stats = fuzz.Stats()
    problem = fuzz.check_program("import torch\nx = 1\n", rules, stats)
    assert problem is not None and "exception escaped lint_source" in problem and "ZeroDivisionError" in problem


def test_harness_reports_a_bad_position(fuzz):
    from leaflint.findings import Finding, Position

    bad = Finding("LL101", "n", "m", "f.py", Position(9, 1), Position(9, 2))
    assert "beyond the 2 lines" in fuzz._positions_problem("a\nb", [bad])
    backwards = Finding("LL101", "n", "m", "f.py", Position(2, 5), Position(2, 1))
    assert "ends before it starts" in fuzz._positions_problem("a\nbbbbbb", [backwards])


def test_harness_reports_a_fix_that_breaks_the_code(fuzz, rules, monkeypatch):
    """With verification switched off and a fix that writes broken code, the oracle objects
    (so a passing run means the real verification did its job)."""
    from leaflint.fix import rounds, wrap

    monkeypatch.setattr(wrap, "wrap_edit", lambda context, stmt, torch, subs=(): wrap.Edit(
        context.start(stmt), context.end(stmt), "with torch.no_grad(:\n    pass"))
    monkeypatch.setattr(rounds, "verify", lambda before, after, fixed: None)
    stats = fuzz.Stats()
    problem = fuzz.check_program("import torch\nw = torch.zeros(3, requires_grad=True)\nw.add_(1)\n", rules, stats)
    assert problem is not None and "does not" in problem


def test_bench_fuzz_command_line():
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, FUZZ_PATH, "-n", "5", "--strategy", "mutate", "--seed", "1"],
                          capture_output=True, text=True, timeout=HANG_GUARD, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "seed 1, 5 examples per strategy" in proc.stdout
    assert "mutate: 5 examples" in proc.stdout and "failures 0" in proc.stdout

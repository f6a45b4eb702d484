"""The forked runs (tests/forked_runs.py, reports/_runner.py) are as good as fresh interpreters.

The fixture, twin and report tests run their programs in children forked from one runner that
imported torch once. That is only sound if each program starts as ``python FILE`` would: nothing
an earlier program did to the interpreter may reach a later one, a failing program fails alone,
and a program prints in a forked child what it prints in a fresh interpreter.
"""

from __future__ import annotations

import json

import pytest
from forked_runs import describe, run_batch, run_script

pytest.importorskip("torch")

# Changes every piece of process state a fixture could touch, then reports the state it found.
MEDDLE = '''\
import json, os, sys
import torch

found = {
    "grad": torch.is_grad_enabled(),
    "dtype": str(torch.get_default_dtype()),
    "threads": torch.get_num_threads(),
    "rand": torch.rand(3).tolist(),
    "marker": getattr(torch, "_leaflint_test_marker", None),
    "module": "meddle_helper" in sys.modules,
    "argv": sys.argv,
    "main": __name__,
    "env": os.environ.get("LEAFLINT_TEST_MEDDLED"),
}
print("found:", json.dumps(found), flush=True)

torch.set_grad_enabled(False)
torch.set_default_dtype(torch.float64)
torch.set_num_threads(2)
torch.manual_seed(12345)
torch._leaflint_test_marker = "leaked"
sys.modules["meddle_helper"] = sys
os.environ["LEAFLINT_TEST_MEDDLED"] = "leaked"
'''


def _found(result: dict) -> dict:
    lines = [line for line in result["stdout"].splitlines() if line.startswith("found: ")]
    assert len(lines) == 1, describe(result)
    return json.loads(lines[0][len("found: "):])


@pytest.fixture(scope="module")
def meddling(tmp_path_factory):
    """The same meddling program three times in one runner, then once in a fresh interpreter;
    a failing program and one that exits with a code in between."""
    directory = tmp_path_factory.mktemp("forked")
    paths = []
    for i in range(3):
        path = directory / f"meddle_{i}.py"
        path.write_text(MEDDLE, encoding="utf-8")
        paths.append(path)
    raising = directory / "raising.py"
    raising.write_text("import torch\ntorch._leaflint_test_marker = 'leaked'\nraise ValueError('boom')\n")
    exiting = directory / "exiting.py"
    exiting.write_text("import sys\nprint('before exit', flush=True)\nsys.exit(3)\n")
    order = [paths[0], raising, paths[1], exiting, paths[2]]
    return paths, raising, exiting, run_batch(order, cwd=directory), run_script(paths[0], cwd=directory)


def test_no_state_reaches_the_next_program(meddling):
    paths, _, _, results, _ = meddling
    states = [_found(results[str(p)]) for p in paths]
    for path, state in zip(paths, states):
        assert results[str(path)]["exit"] == 0, describe(results[str(path)])
        assert state["argv"] == [str(path)] and state["main"] == "__main__"
        assert state["marker"] is None and not state["module"] and state["env"] is None
        assert state["grad"] is True and state["dtype"] == "torch.float32"
    # the generator's state (manual_seed), the thread count: every program finds what the first found
    assert all({k: v for k, v in s.items() if k != "argv"} == {k: v for k, v in states[0].items() if k != "argv"}
               for s in states)


def test_a_forked_program_finds_what_a_fresh_interpreter_finds(meddling):
    paths, _, _, results, fresh = meddling
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    forked = _found(results[str(paths[0])])
    alone = json.loads(next(line for line in fresh.stdout.splitlines() if line.startswith("found: "))[7:])
    # torch seeds its generator at random in every interpreter, so the draws differ run to run
    # either way (the forked children share their runner's seed: see the test above)
    del alone["rand"], forked["rand"]
    assert alone == forked  # threads (OMP_NUM_THREADS=1), grad mode, dtype, argv, __main__


def test_a_failing_program_fails_alone_with_its_traceback(meddling):
    _, raising, exiting, results, _ = meddling
    failed = results[str(raising)]
    assert failed["exit"] == 1 and "ValueError: boom" in failed["stderr"]
    assert failed["stdout"] == ""
    exited = results[str(exiting)]
    assert exited["exit"] == 3 and exited["stdout"] == "before exit\n"

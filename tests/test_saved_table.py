"""The generated saved-tensor table against the installed torch.

Each case runs an op under every combination of its tensor inputs requiring grad and reads
``grad_fn._saved_<arg>`` / ``_saved_result``: the table must predict which are saved (the
requires-grad conditions included). The agreement count is printed (``-s``) and must stay high;
a few facts the LL4 rules rely on are checked exactly.
"""

from __future__ import annotations

import itertools
import json
import os

import pytest

torch = pytest.importorskip("torch")

from leaflint.model.saved import TABLE_PATH, load_table  # noqa: E402
from hang_guard import HANG_GUARD

F = torch.nn.functional


def _t(*shape):
    return torch.rand(*shape) + 0.5


# (table op, overload, callable, input shapes): the callable takes the tensors in schema order.
CASES = [
    ("sigmoid", "", torch.sigmoid, [(3, 4)]), ("tanh", "", torch.tanh, [(3, 4)]),
    ("exp", "", torch.exp, [(3, 4)]), ("relu", "", torch.relu, [(3, 4)]),
    ("sqrt", "", torch.sqrt, [(3, 4)]), ("rsqrt", "", torch.rsqrt, [(3, 4)]),
    ("log", "", torch.log, [(3, 4)]), ("sin", "", torch.sin, [(3, 4)]), ("cos", "", torch.cos, [(3, 4)]),
    ("tan", "", torch.tan, [(3, 4)]), ("abs", "", torch.abs, [(3, 4)]), ("neg", "", torch.neg, [(3, 4)]),
    ("reciprocal", "", torch.reciprocal, [(3, 4)]), ("exp2", "", torch.exp2, [(3, 4)]),
    ("expm1", "", torch.expm1, [(3, 4)]), ("log1p", "", torch.log1p, [(3, 4)]), ("erf", "", torch.erf, [(3, 4)]),
    ("atan", "", torch.atan, [(3, 4)]), ("sinh", "", torch.sinh, [(3, 4)]), ("cosh", "", torch.cosh, [(3, 4)]),
    ("log2", "", torch.log2, [(3, 4)]), ("log10", "", torch.log10, [(3, 4)]),
    ("gelu", "", F.gelu, [(3, 4)]), ("silu", "", F.silu, [(3, 4)]), ("softplus", "", F.softplus, [(3, 4)]),
    ("elu", "", F.elu, [(3, 4)]), ("leaky_relu", "", F.leaky_relu, [(3, 4)]),
    ("hardtanh", "", F.hardtanh, [(3, 4)]), ("mish", "", F.mish, [(3, 4)]),
    ("_softmax", "", lambda x: torch.softmax(x, 1), [(3, 4)]),
    ("_log_softmax", "", lambda x: torch.log_softmax(x, 1), [(3, 4)]),
    ("logsumexp", "", lambda x: torch.logsumexp(x, 1), [(3, 4)]),
    ("cumsum", "", lambda x: torch.cumsum(x, 1), [(3, 4)]),
    ("cumprod", "", lambda x: torch.cumprod(x, 1), [(3, 4)]),
    ("sum", "", torch.sum, [(3, 4)]), ("mean", "", torch.mean, [(3, 4)]),
    ("prod", "", torch.prod, [(3, 4)]),
    ("std", "correction", lambda x: torch.std(x, 1), [(3, 4)]),
    ("var", "correction", lambda x: torch.var(x, 1), [(3, 4)]),
    ("clamp", "", lambda x: torch.clamp(x, 0.6, 1.2), [(3, 4)]),
    ("t", "", torch.t, [(3, 4)]), ("transpose", "int", lambda x: x.transpose(0, 1), [(3, 4)]),
    ("view", "", lambda x: x.view(12), [(3, 4)]), ("expand", "", lambda x: x.expand(2, 3, 4), [(3, 4)]),
    ("squeeze", "dim", lambda x: x.squeeze(0), [(1, 4)]), ("unsqueeze", "", lambda x: x.unsqueeze(0), [(3, 4)]),
    ("pow", "Tensor_Scalar", lambda x: x ** 2, [(3, 4)]), ("pow", "Tensor_Tensor", torch.pow, [(3, 4), (3, 4)]),
    ("add", "Tensor", torch.add, [(3, 4), (3, 4)]), ("sub", "Tensor", torch.sub, [(3, 4), (3, 4)]),
    ("mul", "Tensor", torch.mul, [(3, 4), (3, 4)]), ("div", "Tensor", torch.div, [(3, 4), (3, 4)]),
    ("mm", "", torch.mm, [(3, 4), (4, 5)]), ("bmm", "", torch.bmm, [(2, 3, 4), (2, 4, 5)]),
    ("mv", "", torch.mv, [(3, 4), (4,)]), ("dot", "", torch.dot, [(4,), (4,)]),
    ("addmm", "", torch.addmm, [(3, 5), (3, 4), (4, 5)]),
    ("maximum", "", torch.maximum, [(3, 4), (3, 4)]), ("minimum", "", torch.minimum, [(3, 4), (3, 4)]),
    ("atan2", "", torch.atan2, [(3, 4), (3, 4)]), ("hypot", "", torch.hypot, [(3, 4), (3, 4)]),
    ("dist", "", torch.dist, [(3, 4), (3, 4)]),
    ("lerp", "Tensor", torch.lerp, [(3, 4), (3, 4), (3, 4)]),
    ("addcmul", "", torch.addcmul, [(3, 4), (3, 4), (3, 4)]),
    ("addcdiv", "", torch.addcdiv, [(3, 4), (3, 4), (3, 4)]),
    ("cat", "", lambda a, b: torch.cat([a, b]), [(3, 4), (3, 4)]),
    ("stack", "", lambda a, b: torch.stack([a, b]), [(3, 4), (3, 4)]),
    ("xlogy", "Tensor", torch.xlogy, [(3, 4), (3, 4)]),
    ("binary_cross_entropy", "", lambda x, y: F.binary_cross_entropy(x.clamp(0, 1) * 0 + 0.3, y * 0 + 0.5),
     [(3, 4), (3, 4)]),
    ("mse_loss", "", F.mse_loss, [(3, 4), (3, 4)]),
    ("l1_loss", "", F.l1_loss, [(3, 4), (3, 4)]),
]


def _grad_fn_matches(op: str, grad_fn) -> bool:
    name = type(grad_fn).__name__.lower().replace("backward0", "").replace("backward1", "")
    return name.replace("_", "") == op.replace("_", "")


def _compare():
    table = load_table()
    agree, total, skipped, differences = 0, 0, [], []
    for op, overload_name, fn, shapes in CASES:
        overloads = dict(table.overloads(op))
        overload = overloads.get(overload_name)
        if overload is None:
            skipped.append(f"{op}.{overload_name}: not in the table")
            continue
        args = list(overload.args)[: len(shapes)]
        for flags in itertools.product([False, True], repeat=len(shapes)):
            if not any(flags):
                continue
            inputs = [_t(*s).requires_grad_(f) for s, f in zip(shapes, flags)]
            out = fn(*inputs)
            grad_fn = out.grad_fn
            if grad_fn is None or not _grad_fn_matches(op, grad_fn):
                skipped.append(f"{op}: grad_fn {type(grad_fn).__name__}")
                break
            rg = {name: flag for name, flag in zip(args, flags)}
            for name in args:
                predicted = name in overload.saves_inputs and (
                    overload.saves_inputs[name] is None or any(rg.get(c) for c in overload.saves_inputs[name]))
                value = getattr(grad_fn, f"_saved_{name}", None)
                actual = isinstance(value, torch.Tensor)
                if isinstance(value, (tuple, list)):
                    actual = any(isinstance(v, torch.Tensor) for v in value)
                total += 1
                if predicted == actual:
                    agree += 1
                else:
                    differences.append(f"{op}.{overload_name} {name} rg={flags}: table {predicted}, torch {actual}")
            actual_result = isinstance(getattr(grad_fn, "_saved_result", None), torch.Tensor)
            total += 1
            if actual_result == overload.saves_output:
                agree += 1
            else:
                differences.append(f"{op}.{overload_name} result rg={flags}: table {overload.saves_output}, "
                                   f"torch {actual_result}")
    return agree, total, skipped, differences


def test_table_matches_installed_torch(capsys):
    agree, total, skipped, differences = _compare()
    with capsys.disabled():
        print(f"\nsaved-tensor table vs torch {torch.__version__}: {agree}/{total} facts agree "
              f"over {len(CASES)} ops ({len(skipped)} skipped)")
        for line in differences + skipped:
            print("  ", line)
    assert total > 300
    assert agree / total >= 0.97, differences


def test_facts_the_rules_rely_on():
    table = load_table()
    saves_output = {"sigmoid", "tanh", "exp", "relu", "sqrt", "rsqrt", "_softmax", "_log_softmax", "logsumexp",
                    "cumprod"}
    for op in saves_output:
        assert table.saves_output(op), op
    for op in ("add", "sub", "cat", "view", "expand", "cumsum"):
        assert all(not o.saves_inputs and not o.saves_output for _, o in table.overloads(op)), op
    mul = dict(table.overloads("mul"))["Tensor"]
    assert mul.saves_inputs == {"self": ("other",), "other": ("self",)}


def test_table_records_its_torch_version():
    with open(TABLE_PATH, encoding="utf-8") as f:
        data = json.load(f)
    assert data["torch_version"].split("+")[0] == torch.__version__.split("+")[0]
    assert data["generated_by"] == "tools/gen_saved_table.py"


def test_static_path_reads_the_table_without_torch():
    code = ("import sys; from leaflint.model.saved import load_table; t = load_table(); "
            "assert t.saves_output('sigmoid'); assert 'torch' not in sys.modules")
    import subprocess
    import sys

    env = dict(os.environ)
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=HANG_GUARD)
    assert proc.returncode == 0, proc.stderr

"""Generate leaflint/data/saved_tensors.json: which tensors each torch op saves for backward.

Development-time only. It reads torchgen's own copies of ``derivatives.yaml`` and
``native_functions.yaml`` (shipped inside the torch wheel) with torchgen's own loader; it never
imports torch. Run it after upgrading torch and commit the output:

    python tools/gen_saved_table.py            # writes leaflint/data/saved_tensors.json
    python tools/gen_saved_table.py --check    # exit 1 when the committed table is stale

What the table says, per op overload (``mul.Tensor``):
- ``args``: the tensor arguments in schema order, and which of them are differentiable;
- ``saves_inputs``: argument -> ``null`` (saved whenever the op records a graph) or the list of
  arguments any of which must require grad for the save to happen. The condition is the one
  the generated C++ uses (``gen_variable_type.guard_for``): an input referenced only by the
  formula of one other input is saved only when that input requires grad (``x * w`` saves
  ``x`` only when ``w`` requires grad);
- ``saves_output``: the op saves its own result (``sigmoid``, ``exp``, ``relu``, ``_softmax``),
  so an in-place write on the result breaks backward;
- ``method`` / ``function``: how Python reaches it; ``inplace``: the in-place variant's name.

Python functions that torch implements by composition (``softmax`` -> ``_softmax``,
``linear``, ``conv2d``, ``matmul``) have no entry of their own in derivatives.yaml; the
``composites`` section maps them, by argument, onto the op that records the graph.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from importlib import metadata

import torchgen
from torchgen.api.types import BaseCType, OptionalCType, tensorT
from torchgen.packaged.autograd.load_derivatives import load_derivatives

OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "leaflint", "data",
                   "saved_tensors.json")

# Python functions implemented by composition of a recorded op. Each maps the Python argument
# (by position) onto the recorded op's argument; ``output`` names the op's result.
COMPOSITES = {
    "softmax": {"op": "_softmax", "args": {"self": 0}},
    "log_softmax": {"op": "_log_softmax", "args": {"self": 0}},
    "matmul": {"op": "mm", "args": {"self": 0, "mat2": 1}},
    "linear": {"op": "mm", "args": {"self": 0, "mat2": 1}},
    "bilinear": {"op": "mm", "args": {"self": 0, "mat2": 2}},
    "conv1d": {"op": "convolution", "args": {"input": 0, "weight": 1}},
    "conv2d": {"op": "convolution", "args": {"input": 0, "weight": 1}},
    "conv3d": {"op": "convolution", "args": {"input": 0, "weight": 1}},
    "conv_transpose1d": {"op": "convolution", "args": {"input": 0, "weight": 1}},
    "conv_transpose2d": {"op": "convolution", "args": {"input": 0, "weight": 1}},
    "conv_transpose3d": {"op": "convolution", "args": {"input": 0, "weight": 1}},
    "layer_norm": {"op": "native_layer_norm", "args": {"input": 0, "weight": 2}},
    "batch_norm": {"op": "native_batch_norm", "args": {"input": 0, "weight": 3}},
    "einsum": {"op": "bmm", "args": {}},
    "sum_to_size": {"op": "sum", "args": {}},
    "flatten": {"op": "view", "args": {}},
    "dropout": {"op": "native_dropout", "args": {}},
    "square": {"op": "pow", "args": {"self": 0}},
}

# Binary operators (libcst operator class name) -> op base name.
OPERATORS = {
    "Add": "add", "Subtract": "sub", "Multiply": "mul", "Divide": "div", "Power": "pow",
    "MatrixMultiply": "matmul", "FloorDivide": "floor_divide", "Modulo": "remainder",
}

# torch.nn modules -> the op their forward records, with the module's own parameters as
# arguments. ``params`` names which op argument the module's weight fills.
MODULES = {
    "Linear": {"op": "linear", "weight_arg": "mat2", "input_arg": "self"},
    "Bilinear": {"op": "linear", "weight_arg": "mat2", "input_arg": "self"},
    **{name: {"op": "convolution", "weight_arg": "weight", "input_arg": "input"}
       for name in ("Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d")},
    "LayerNorm": {"op": "native_layer_norm", "weight_arg": "weight", "input_arg": "input"},
    **{name: {"op": "native_batch_norm", "weight_arg": "weight", "input_arg": "input"}
       for name in ("BatchNorm1d", "BatchNorm2d", "BatchNorm3d")},
    "Embedding": {"op": "embedding", "weight_arg": "weight", "input_arg": "indices"},
    "ReLU": {"op": "relu", "input_arg": "self"},
    "Sigmoid": {"op": "sigmoid", "input_arg": "self"},
    "Tanh": {"op": "tanh", "input_arg": "self"},
    "Softmax": {"op": "_softmax", "input_arg": "self"},
    "LogSoftmax": {"op": "_log_softmax", "input_arg": "self"},
    "GELU": {"op": "gelu", "input_arg": "self"},
    "SiLU": {"op": "silu", "input_arg": "self"},
    "ELU": {"op": "elu", "input_arg": "self"},
    "LeakyReLU": {"op": "leaky_relu", "input_arg": "self"},
    "Softplus": {"op": "softplus", "input_arg": "self"},
    "Hardtanh": {"op": "hardtanh", "input_arg": "self"},
}


def _is_tensor(ctype) -> bool:
    return ctype == BaseCType(tensorT) or ctype == OptionalCType(BaseCType(tensorT))


def _guard(info, arg, args_with_derivatives) -> list[str] | None:
    """The arguments whose requires_grad decides whether ``arg`` is saved (None: always).

    Mirrors ``guard_for`` in torchgen/packaged/autograd/gen_variable_type.py.
    """
    if any(a.type != BaseCType(tensorT) and "List" in str(a.type) for a in args_with_derivatives):
        return None
    if "backward" in info.name or len(args_with_derivatives) <= 1:
        return None
    used_in = [d for d in info.derivatives if arg in d.saved_inputs]
    if len(used_in) != 1:
        return None
    derivative = used_in[0]
    names = [a.name for a in args_with_derivatives]
    if len(derivative.var_names) != 1:
        match = re.search(rf"wrap_opt_if\({re.escape(str(arg.nctype.name))},(.*?)\)", derivative.formula)
        if match is None:
            return None
        masks = [int(i) for i in re.findall(r"grad_input_mask\[(\d+)\]", match.group(1))]
        if not masks or "&&" in match.group(1):
            return None
        return [names[i] for i in masks if i < len(names)]
    return [derivative.var_names[0]]


def build() -> dict:
    base = os.path.join(os.path.dirname(torchgen.__file__), "packaged")
    infos, _ = load_derivatives(os.path.join(base, "autograd", "derivatives.yaml"),
                                os.path.join(base, "ATen", "native", "native_functions.yaml"),
                                os.path.join(base, "ATen", "native", "tags.yaml"))
    ops: dict[str, dict] = {}
    for schema, per_key in infos.items():
        info = per_key.get("Default")
        if info is None:
            continue
        func = info.func
        name = func.func.name.name
        if name.inplace or str(func.func.name.overload_name).startswith("out") or name.base.endswith("_backward"):
            continue
        tensor_args = [a for a in func.func.arguments.flat_all if str(a.type) in ("Tensor", "Tensor?")]
        arg_names = [a.name for a in tensor_args]
        differentiable = [a.name for a in info.args_with_derivatives]
        saves_inputs: dict[str, list[str] | None] = {}
        for saved in info.all_saved_inputs:
            var = str(saved.nctype.name)
            if var not in arg_names or not _is_tensor(saved.nctype.type):
                continue
            saves_inputs[var] = _guard(info, saved, info.args_with_derivatives)
        # the op's own (first) result; ``result1``... are auxiliaries such as a norm's mean
        saves_output = any(str(s.nctype.name) in ("result", "result0") and _is_tensor(s.nctype.type)
                           for s in info.all_saved_outputs)
        overload = str(func.func.name.overload_name) or ""
        variants = {str(v).rsplit(".", 1)[-1] for v in func.variants}
        entry = ops.setdefault(name.base, {"method": False, "function": False, "inplace": None,
                                           "overloads": {}})
        entry["method"] = entry["method"] or "method" in variants
        entry["function"] = entry["function"] or "function" in variants
        non_tensor = [a.name for a in func.func.arguments.flat_positional if str(a.type) not in ("Tensor", "Tensor?")]
        entry["overloads"][overload] = {
            "args": arg_names,
            "positional": [a.name for a in func.func.arguments.flat_positional],
            "scalar_args": non_tensor,
            "differentiable": differentiable,
            "saves_inputs": dict(sorted(saves_inputs.items())),
            "saves_output": saves_output,
        }
    # in-place variants present in native_functions.yaml
    for schema, per_key in infos.items():
        info = per_key.get("Default")
        if info is not None and info.func.func.name.name.inplace:
            base_name = info.func.func.name.name.base
            if base_name in ops:
                ops[base_name]["inplace"] = base_name + "_"
    from torchgen.gen import parse_native_yaml
    native = parse_native_yaml(os.path.join(base, "ATen", "native", "native_functions.yaml"),
                               os.path.join(base, "ATen", "native", "tags.yaml")).native_functions
    for f in native:
        if f.func.name.name.inplace and f.func.name.name.base in ops:
            ops[f.func.name.name.base]["inplace"] = f.func.name.name.base + "_"
    return {
        "torch_version": metadata.version("torch"),
        "generated_by": "tools/gen_saved_table.py",
        "source": "torchgen/packaged/autograd/derivatives.yaml + ATen/native/native_functions.yaml",
        "ops": dict(sorted(ops.items())),
        "composites": COMPOSITES,
        "operators": OPERATORS,
        "modules": MODULES,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed table")
    parser.add_argument("--out", default=OUT)
    args = parser.parse_args(argv)
    table = build()
    text = json.dumps(table, indent=1, sort_keys=False) + "\n"
    if args.check:
        with open(args.out, encoding="utf-8") as f:
            same = f.read() == text
        print("up to date" if same else f"stale: regenerate with python {sys.argv[0]}")
        return 0 if same else 1
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    tmp = args.out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, args.out)
    saving_output = sorted(n for n, e in table["ops"].items() if any(o["saves_output"] for o in e["overloads"].values()))
    print(f"{len(table['ops'])} ops (torch {table['torch_version']}); {len(saving_output)} save their output -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""LL4: an in-place layer right after a layer that saves its output, in one ``nn.Sequential``.

``nn.Sequential`` runs its layers in order, each on the previous one's output. A layer whose
backward reads its own output (``nn.ReLU``, ``nn.Sigmoid``, ``nn.Tanh``, ``nn.Softmax``,
``nn.LogSoftmax``: the generated table's modules whose op saves its output) followed by a layer
that overwrites its input (``nn.Dropout(p, inplace=True)``, ``nn.ReLU(inplace=True)``, ...)
changes the saved output before backward: every backward through the container raises. This
is a fact of the container's construction, so it is reported there, at the in-place layer.

Measured on torch 2.13 CPU (``nn.Sequential(nn.Linear, A, B, nn.Linear)``, then backward):
- raises for A in ReLU, ReLU(inplace=True), Sigmoid, Tanh, Softmax, LogSoftmax and B an in-place
  Dropout, Dropout2d, ReLU, ReLU6, LeakyReLU, ELU, SELU, CELU, SiLU, Hardtanh, Hardswish,
  Hardsigmoid, Mish, Threshold; an in-place Dropout raises in eval mode too (the op still bumps
  the version);
- silent for A in Linear, Conv, BatchNorm, LayerNorm, Identity, Dropout, ELU, GELU, LeakyReLU,
  SiLU, ReLU6, Hardtanh, Softplus, Mish, PReLU (none saves its output), for B an AlphaDropout or
  FeatureAlphaDropout, and for ``nn.Dropout(0.0, inplace=True)`` (p = 0 writes nothing).

The layers come from the call's own arguments (``nn.Sequential(a, b, c)``) or, for
``nn.Sequential(*layers)``, from a list built in the same function by consecutive
``layers.append(...)`` statements (adjacent in one block, so both run, one after the other).
The saved output must require grad: a layer with parameters comes before it in the chain.
"""

from __future__ import annotations

from typing import Iterator, Optional

import libcst as cst

from leaflint.model import torchapi as api
from leaflint.model.saved_table import SavedTable
from leaflint.model.saved_values import Hit, Save, Write, ids, is_true
from leaflint.model.semantic import FuncInfo, SemanticModel
from leaflint.model.walk import children

# Layers that write their input in place when built with ``inplace=True``, and the position of
# ``inplace`` among their positional parameters (torch 2.13 signatures).
INPLACE_LAYERS = {
    "ReLU": 0, "ReLU6": 0, "SELU": 0, "SiLU": 0, "Mish": 0, "Hardswish": 0, "Hardsigmoid": 0,
    "LeakyReLU": 1, "ELU": 1, "CELU": 1, "Dropout": 1, "Dropout1d": 1, "Dropout2d": 1, "Dropout3d": 1,
    "Threshold": 2, "Hardtanh": 2,
}
DROPOUTS = frozenset({"Dropout", "Dropout1d", "Dropout2d", "Dropout3d"})


def chain_hits(model: SemanticModel, table: SavedTable) -> list[Hit]:
    """Every in-place layer placed right after an output-saving layer in a ``Sequential``."""
    found: list[Hit] = []
    for info in model.funcs:
        body = _own_body(model, info)
        for call in _sequential_calls(model, body):
            for layers in _layer_runs(model, info, call, body):
                found.extend(_pairs(model, table, info, layers))
    return found


def _own_body(model: SemanticModel, info: FuncInfo) -> list:
    if info.node is None:
        return [s for s in model.module.body if not isinstance(s, (cst.FunctionDef, cst.ClassDef))]
    return [info.node.body]


def _walk(nodes: list) -> Iterator[cst.CSTNode]:
    """The nodes of a function's own code (nested functions and classes are their own)."""
    stack = list(reversed(nodes))
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed([c for c in children(node)
                               if not isinstance(c, (cst.FunctionDef, cst.ClassDef, cst.Lambda))]))


def _sequential_calls(model: SemanticModel, body: list) -> Iterator[cst.Call]:
    for node in _walk(body):
        if isinstance(node, cst.Call) and api.torch_nn_layer(model.imports.qualname(node.func)) == "Sequential":
            yield node


def _layer_runs(model: SemanticModel, info: FuncInfo, call: cst.Call, body: list) -> list[list[cst.Call]]:
    """The runs of layers known to be adjacent in the container ``call`` builds."""
    positional = [a for a in call.args if a.keyword is None]
    if len(positional) == 1 and positional[0].star == "*" and isinstance(positional[0].value, cst.Name):
        return _append_runs(positional[0].value.value, body)
    if any(a.star for a in positional):
        return []
    return [[a.value for a in positional if isinstance(a.value, cst.Call)]] \
        if all(isinstance(a.value, cst.Call) for a in positional) else []


def _append_runs(name: str, body: list) -> list[list[cst.Call]]:
    """Consecutive ``name.append(<call>)`` statements of one block, each run in order."""
    runs: list[list[cst.Call]] = []
    for node in _walk(body):
        if not isinstance(node, (cst.IndentedBlock, cst.Module)):
            continue
        run: list[cst.Call] = []
        for stmt in node.body:
            item = _appended(stmt, name)
            if item is not None:
                run.append(item)
                continue
            if len(run) >= 2:
                runs.append(run)
            run = []
        if len(run) >= 2:
            runs.append(run)
    return runs


def _appended(stmt: cst.CSTNode, name: str) -> Optional[cst.Call]:
    if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1 or not isinstance(stmt.body[0], cst.Expr):
        return None
    call = stmt.body[0].value
    if isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute) and call.func.attr.value == "append" \
            and isinstance(call.func.value, cst.Name) and call.func.value.value == name \
            and len(call.args) == 1 and isinstance(call.args[0].value, cst.Call):
        return call.args[0].value
    return None


def _pairs(model: SemanticModel, table: SavedTable, info: FuncInfo, layers: list[cst.Call]) -> list[Hit]:
    found = []
    trained = False  # a layer with parameters ran before: the outputs from here on require grad
    for before, after in zip(layers, layers[1:] + [None]):
        layer = _layer(model, before)
        op = _saved_op(table, layer)
        if trained and op is not None and after is not None and _writes_input(model, after):
            save = Save(next(ids), f"layer{next(ids)}", "output", op, before, model.text(before))
            written = _layer(model, after) or "layer"
            write = Write(after, before, "layer", f"{written}(inplace=True)", False, None)
            found.append(Hit(save, write, None, info))
        trained = trained or layer in api.LAYER_PARAMETERS
    return found


def _layer(model: SemanticModel, call: cst.Call) -> Optional[str]:
    return api.torch_nn_layer(model.imports.qualname(call.func))


def _saved_op(table: SavedTable, layer: Optional[str]) -> Optional[str]:
    spec = table.modules.get(layer or "")
    if spec is None or "weight_arg" in spec or not table.saves_output(spec["op"]):
        return None
    return spec["op"]


def _writes_input(model: SemanticModel, call: cst.Call) -> bool:
    """``nn.Dropout(p, inplace=True)``, ``nn.ReLU(True)``: a layer built to overwrite its input."""
    layer = _layer(model, call)
    if layer not in INPLACE_LAYERS:
        return False
    positional = [a for a in call.args if a.keyword is None and not a.star]
    flag: Optional[cst.BaseExpression] = next((a.value for a in call.args if a.keyword is not None
                                               and a.keyword.value == "inplace"), None)
    if flag is None and len(positional) > INPLACE_LAYERS[layer]:
        flag = positional[INPLACE_LAYERS[layer]].value
    if is_true(flag) is not True:
        return False
    if layer in DROPOUTS:
        p = next((a.value for a in call.args if a.keyword is not None and a.keyword.value == "p"),
                 positional[0].value if positional else None)
        if isinstance(p, (cst.Integer, cst.Float)) and float(p.value) == 0.0:
            return False  # p = 0 writes nothing (measured)
    return True

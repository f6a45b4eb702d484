"""Function outputs cut from their inputs by ``no_grad`` (LL204).

A function (a module's ``forward``, a constraint, a helper) whose return value depends on one of
its parameters only through statements run under ``torch.no_grad()`` (or ``inference_mode``,
``set_grad_enabled(False)``) gives a caller no gradient for what it passes there. When the caller
runs with grad on and passes a tensor that requires grad (a Parameter), that Parameter gets no
gradient through the call: if nothing else uses it, it never trains.

``cut_parameters(model, func)`` follows, in statement order, which of ``func``'s parameters each
local name depends on, live (through statements with grad on) or only cut (a no_grad block in
between), and reads the ``return`` statements. ``cut_calls(model)`` pairs those summaries with the
calls that pass a leaf to a cut parameter of a submodule's ``forward`` (a class of this file).
Plain helper functions are left out: the probe sees module calls (forward hooks), not function
calls, and could not referee them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterator, Optional

import libcst as cst

from leaflint.model.facts import Grad
from leaflint.model.values import ModuleInstance
from leaflint.model.walk import children

if TYPE_CHECKING:
    from leaflint.model.facts import FuncInfo
    from leaflint.model.semantic import SemanticModel

_NO_GRAD = frozenset({"torch.no_grad", "torch.inference_mode", "torch.autograd.grad_mode.no_grad",
                      "torch.autograd.no_grad"})
# Methods whose result carries no graph from the receiver: a dependence through them is not live.
_STOPS = frozenset({"detach", "item", "tolist", "numpy", "data_ptr", "size", "dim", "numel"})


@dataclass
class CutSummary:
    """The parameters a function's returns depend on only through no_grad, and where it cuts."""

    cut: dict[str, cst.With] = field(default_factory=dict)  # parameter -> the no_grad block


@dataclass
class CutCall:
    """A call that passes a tensor requiring grad where the callee's output is cut from it."""

    call: cst.Call
    callee: "FuncInfo"
    param: str
    block: cst.With
    arg_text: str


def _no_grad_with(model: "SemanticModel", node: cst.With) -> bool:
    for item in node.items:
        expr = item.item
        if not isinstance(expr, cst.Call):
            continue
        qual = model.imports.qualname(expr.func) or ""
        if qual in _NO_GRAD:
            if qual.endswith("inference_mode") and expr.args and _false(expr.args[0].value):
                continue
            return True
        if qual in ("torch.set_grad_enabled", "torch.autograd.set_grad_enabled") and expr.args \
                and _false(expr.args[0].value):
            return True
    return False


def _false(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Name) and node.value == "False"


class _Flow:
    """Per name: the parameters it depends on live, and those it depends on only across a cut."""

    def __init__(self, params: list[str]) -> None:
        self.live: dict[str, frozenset[str]] = {p: frozenset({p}) for p in params}
        self.cut: dict[str, dict[str, cst.With]] = {}

    def deps(self, expr: cst.CSTNode) -> tuple[frozenset[str], dict[str, cst.With]]:
        live: set[str] = set()
        cut: dict[str, cst.With] = {}
        stack = [expr]
        while stack:
            node = stack.pop()
            if isinstance(node, cst.Name):
                live |= self.live.get(node.value, frozenset())
                for p, block in self.cut.get(node.value, {}).items():
                    cut.setdefault(p, block)
                continue
            if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value in _STOPS:
                stack.extend(a.value for a in node.args)
                continue
            if isinstance(node, cst.Attribute):
                if node.attr.value in ("data", "grad", "shape", "dtype", "device"):
                    continue
                stack.append(node.value)
                continue
            if isinstance(node, (cst.Lambda, cst.FunctionDef)):
                continue
            stack.extend(children(node))
        return frozenset(live), cut


def cut_parameters(model: "SemanticModel", func: "FuncInfo") -> CutSummary:
    """Which of ``func``'s parameters (not ``self``) reach its returns only through no_grad."""
    summary = CutSummary()
    node = func.node
    if node is None or not _has_no_grad(model, node.body):
        return summary
    params = [p for p in func.params if p != func.self_name]
    flow = _Flow(params)
    live_ret: set[str] = set()
    cut_ret: dict[str, cst.With] = {}
    for stmt, block in _statements(model, node.body, None):
        for small in (stmt.body if isinstance(stmt, cst.SimpleStatementLine) else ()):
            if isinstance(small, cst.Return) and small.value is not None:
                live, cut = flow.deps(small.value)
                if block is not None:  # returned from inside the no_grad block: all of it is cut
                    for p in live:
                        cut.setdefault(p, block)
                    live = frozenset()
                live_ret |= live
                for p, b in cut.items():
                    cut_ret.setdefault(p, b)
            elif isinstance(small, (cst.Assign, cst.AnnAssign, cst.AugAssign)) and small.value is not None:
                live, cut = flow.deps(small.value)
                if block is not None:
                    for p in live:
                        cut.setdefault(p, block)
                    live = frozenset()
                targets = [t.target for t in small.targets] if isinstance(small, cst.Assign) else [small.target]
                for name in _names(targets):
                    if isinstance(small, cst.AugAssign):
                        live = live | flow.live.get(name, frozenset())
                        cut = {**flow.cut.get(name, {}), **cut}
                    flow.live[name] = live
                    flow.cut[name] = cut
    for p, b in cut_ret.items():
        if p not in live_ret and p in params:
            summary.cut[p] = b
    return summary


def _names(targets) -> Iterator[str]:
    for target in targets:
        if isinstance(target, cst.Name):
            yield target.value
        elif isinstance(target, (cst.Tuple, cst.List)):
            yield from _names(e.value for e in target.elements)


def _has_no_grad(model, body: cst.CSTNode) -> bool:
    stack = [body]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.With) and _no_grad_with(model, node):
            return True
        if isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            continue
        stack.extend(children(node))
    return False


def _statements(model, body: cst.CSTNode, block: Optional[cst.With]) -> Iterator[tuple[cst.CSTNode, Optional[cst.With]]]:
    """The simple statements of a body in source order, each with the no_grad block it is in."""
    for node in children(body):
        if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            continue
        if isinstance(node, cst.SimpleStatementLine):
            yield node, block
        elif isinstance(node, cst.With):
            inner = node if block is None and _no_grad_with(model, node) else block
            yield from _statements(model, node.body, inner)
        elif isinstance(node, (cst.BaseSuite, cst.If, cst.For, cst.While, cst.Try, cst.Else, cst.ExceptHandler,
                               cst.Finally)):
            yield from _statements(model, node, block)


def cut_calls(model: "SemanticModel") -> list[CutCall]:
    """Calls made with grad on that pass a tensor requiring grad to a parameter the callee cuts."""
    summaries: dict[int, CutSummary] = {}
    found: list[CutCall] = []
    for call in model.arg_calls:
        if model.grad_at(call.ctx) is not Grad.ON:
            continue
        callees = []
        if call.key[0] == "method" and not model.callees(call):
            # ``self.constraint(w)``: a submodule of a class of this file, called: its forward
            cls = model.classes.get(call.key[1])
            sub = cls.submodules.get(call.key[2]) if cls is not None else None
            if isinstance(sub, ModuleInstance) and sub.kind[0] == "local":
                callees = [f for c in [model.classes.get(sub.kind[1])] if c is not None
                           for f in c.methods.get("forward", [])]
        for callee in callees:
            summary = summaries.get(id(callee))
            if summary is None:
                summary = summaries[id(callee)] = cut_parameters(model, callee)
            if not summary.cut:
                continue
            params = [p for p in callee.params if p != callee.self_name]
            positional = [a for a in call.args if a[0] is None]
            pairs = [(params[i], a) for i, a in enumerate(positional) if i < len(params)]
            pairs += [(a[0], a) for a in call.args if a[0] is not None]
            for param, (_, value, node) in pairs:
                if param in summary.cut and model.leaf(value) is not None:
                    found.append(CutCall(call.node, callee, param, summary.cut[param], model.text(node)))
    return found

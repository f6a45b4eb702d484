"""What a value carries a graph from, as far as the function computing it can tell.

A value's *roots* are the enclosing function's parameters it is computed from through
differentiable operations (not through ``.data``, ``.detach()``, ``.item()`` ...), and
``MODULE`` when part of it is the output of a module that owns parameters (``fake = G(z)``).
Names keep the roots of the value bound to them, in statement order; under no_grad a value
carries none. A helper's ``.data`` write on a value rooted in its parameter is judged where the
helper is called: with a graph value, before a backward() (``leaflint.model.summaries``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from leaflint.model import torchapi as api
from leaflint.model.syntax import graph_operands
from leaflint.model.values import Arg, Attr, ModuleInstance, SelfRef

if TYPE_CHECKING:
    from leaflint.model.collect import Collector

MODULE = "<module output>"

# Calls whose result carries no graph from their receiver or arguments.
_STOP_METHODS = frozenset({"detach", "item", "tolist", "numpy", "cpu", "data_ptr", "size", "dim", "numel",
                           "clone", "detach_", "argmax", "argmin", "nonzero", "long", "int", "bool"})


def calls_a_module(collector: "Collector", node: cst.BaseExpression, given: bool = True) -> bool:
    """``G(z)`` / ``self.encoder(x)`` / ``model(x)``: a call of a module that owns parameters,
    or (``given``) of a callable the function was given (``def step(gen, z): fake = gen(z)``)."""
    if not isinstance(node, cst.Call):
        return False
    callee = collector.value_of(node.func)
    if isinstance(callee, SelfRef):
        return False
    if isinstance(callee, Arg) and isinstance(node.func, cst.Name):
        return given
    if isinstance(callee, ModuleInstance):
        return callee.kind[0] in ("local", "tree") or callee.kind[1] in api.LAYER_PARAMETERS
    if isinstance(callee, Attr) and isinstance(callee.base, SelfRef):
        cls = collector.classes.get(callee.base.cls)
        return cls is not None and callee.name in cls.submodules
    return False


def graph_roots(collector: "Collector", node: cst.BaseExpression, given: bool = True) -> frozenset[str]:
    """The parameter names (and ``MODULE``) the value of ``node`` is computed from, here.
    ``given=False``: a callable the function was given is not taken for a module (it may be an
    initialiser, ``self.w.data = kernel_init(shape)``); the names' recorded roots still count."""
    found: set[str] = set()
    stack: list[cst.CSTNode] = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, cst.Name):
            known = collector.roots_of(current.value)
            if known is not None:
                found |= known
            elif isinstance(collector.lookup(current.value), Arg):
                found.add(current.value)
        elif isinstance(current, cst.Attribute):
            if current.attr.value in api.VIEW_ATTRIBUTES:
                stack.append(current.value)  # ``.T``; ``.data``, ``.grad``, ``.shape`` carry none of it
        elif isinstance(current, cst.Subscript):
            stack.append(current.value)
        else:
            if isinstance(current, cst.Call) and calls_a_module(collector, current, given):
                found.add(MODULE)
            stack.extend(graph_operands(current, _STOP_METHODS))
    return frozenset(found)


def graph_events(collector: "Collector", node: cst.Assign, names: list[str]) -> list[tuple[str, object]]:
    """The events of an assignment made with grad on that binds ``names`` to part of a graph:
    ``fake = G(z)`` (a module's output) uses them from here (``use``); ``out = a.sigmoid()``
    records its sources (``derive``), and the model decides, once leaves are known, whether one
    is a leaf that requires grad (``SemanticModel.derives_from_leaf``)."""
    if calls_a_module(collector, node.value):
        return [("use", name) for name in names]
    if len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Name):
        sources = tuple(value for value, _ in collector.graph_sources(node.value))
        if sources:
            return [("derive", (node.targets[0].target.value, sources))]
    return []

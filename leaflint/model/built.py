"""Modules built inside a function and only ever called there: never registered on any module.

``nn.Linear(a, b)(x)`` applied inline, or ``conv = nn.Conv2d(...).to(dev)`` followed by
``conv(x)``: the module is new on every call of the function and no module holds it, so
``parameters()`` does not list its parameters, no optimizer trains them and ``state_dict()``
does not save them. A local that escapes (stored on an attribute or in a container, passed to a
call, returned, rebound to something else, captured by a nested function) may be registered
somewhere: unknown, and unknown is silent.

Read once the whole file is known (the classes a constructor names may come later in the file).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, Optional

import libcst as cst

from leaflint.model import torchapi as api
from leaflint.model.evaluate import Evaluator
from leaflint.model.facts import ClassInfo, FuncInfo
from leaflint.model.imports import ImportTable
from leaflint.model.values import ModuleInstance

if TYPE_CHECKING:
    from leaflint.model.semantic import SemanticModel

_RETURNS_SELF = api.MODULE_RETURNS_SELF
_SCOPES = (cst.FunctionDef, cst.ClassDef, cst.Lambda)


@dataclass(frozen=True)
class BuiltModule:
    """A parameter-owning module constructed in ``func`` and only applied there."""

    node: cst.Call  # the constructor call (``nn.Linear(a, b)``)
    module: ModuleInstance
    func: FuncInfo
    local: Optional[str]  # the local name it is bound to; None when applied inline


class _ConstructorReader(Evaluator):
    """Reads constructor calls with no environment: every name is unknown, so only a chain
    rooted in a constructor (``nn.Conv2d(...).to(dev)``) evaluates to a module."""

    def __init__(self, imports: ImportTable, classes: dict[str, ClassInfo]) -> None:
        self.imports = imports
        self.classes = classes
        self.frozen_paths = [set()]
        self.branch_frozen = []

    def lookup(self, name: str):
        return None

    def call_summary(self, name: str, *rest):
        return None


def _constructor(node: cst.BaseExpression) -> Optional[cst.Call]:
    """The constructor call under ``.to(dev)`` / ``.cuda()`` / ``.eval()`` chains."""
    while isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) \
            and node.func.attr.value in _RETURNS_SELF:
        node = node.func.value
    return node if isinstance(node, cst.Call) else None


class _Finder:
    def __init__(self, model: "SemanticModel", reader: _ConstructorReader) -> None:
        self.model = model
        self.reader = reader

    def built(self, node: cst.BaseExpression) -> Optional[tuple[cst.Call, ModuleInstance]]:
        """(constructor call, module) when ``node`` builds a module that owns trainable parameters."""
        call = _constructor(node)
        if call is None:
            return None
        value = self.reader.value_of(node)
        if not isinstance(value, ModuleInstance) or value.kind[0] == "tree" or not self._owns(value, call):
            return None
        return call, value

    def _owns(self, value: ModuleInstance, call: cst.Call) -> bool:
        if value.kind[0] == "torch" and value.kind[1] in api.MODULE_CONTAINERS:
            return any(self.built(element) is not None for element in _elements(call))
        return self.model.module_owns_parameters(value)


def _elements(call: cst.Call) -> Iterator[cst.BaseExpression]:
    """The modules a container constructor is given: ``Sequential(a, b)``, ``ModuleList([a, b])``."""
    for arg in call.args:
        if isinstance(arg.value, (cst.List, cst.Tuple)):
            yield from (e.value for e in arg.value.elements if isinstance(e, cst.Element))
        else:
            yield arg.value


def _walk(root: cst.CSTNode) -> Iterator[tuple[cst.CSTNode, Optional[cst.CSTNode], bool]]:
    """(node, parent, nested) for every node under ``root``; ``nested``: inside an inner scope."""
    stack: list[tuple[cst.CSTNode, Optional[cst.CSTNode], bool]] = [(root, None, False)]
    while stack:
        node, parent, nested = stack.pop()
        yield node, parent, nested
        inner = nested or (node is not root and isinstance(node, _SCOPES))
        stack.extend((child, node, inner) for child in node.children)


def _rebinds_itself(value: cst.BaseExpression, name: str) -> bool:
    """``conv = conv.to(dev)``: the same module under the same name."""
    while isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute) \
            and value.func.attr.value in _RETURNS_SELF:
        value = value.func.value
    return isinstance(value, cst.Name) and value.value == name


def _in_function(func: FuncInfo, finder: _Finder) -> Iterator[BuiltModule]:
    assert func.node is not None
    parents: dict[int, Optional[cst.CSTNode]] = {}
    inline: list[tuple[cst.Call, ModuleInstance]] = []
    candidates: dict[str, list[tuple[cst.Call, ModuleInstance]]] = {}
    names: list[tuple[cst.Name, bool]] = []
    for node, parent, nested in _walk(func.node.body):
        parents[id(node)] = parent
        if isinstance(node, cst.Name):
            names.append((node, nested))
        if nested:
            continue
        if isinstance(node, cst.Call) and not (isinstance(node.func, cst.Attribute)
                                               and node.func.attr.value in _RETURNS_SELF):
            found = finder.built(node.func)
            if found is not None:
                inline.append(found)
        elif isinstance(node, cst.Assign) and len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Name):
            found = finder.built(node.value)
            if found is not None:
                candidates.setdefault(node.targets[0].target.value, []).append(found)
    for call, module in inline:
        yield BuiltModule(call, module, func, None)
    for name, built in candidates.items():
        if _only_applied(name, [(n, nested) for n, nested in names if n.value == name], parents, finder):
            for call, module in built:
                yield BuiltModule(call, module, func, name)


def _only_applied(name: str, uses: list[tuple[cst.Name, bool]], parents: dict, finder: _Finder) -> bool:
    """Every occurrence of the local ``name`` builds it, re-binds it to itself, or calls it (once at least)."""
    called = False
    for node, nested in uses:
        parent = parents.get(id(node))
        if nested or parent is None:
            return False
        if isinstance(parent, cst.Call) and parent.func is node:
            called = True
            continue
        if isinstance(parent, cst.AssignTarget):
            assign = parents.get(id(parent))
            if isinstance(assign, cst.Assign) and len(assign.targets) == 1 and (
                    finder.built(assign.value) is not None or _rebinds_itself(assign.value, name)):
                continue
            return False
        if isinstance(parent, cst.Attribute) and parent.value is node and parent.attr.value in _RETURNS_SELF:
            call = parents.get(id(parent))
            holder = parents.get(id(call)) if isinstance(call, cst.Call) else None
            if isinstance(holder, cst.Expr) or (isinstance(holder, cst.Assign) and _rebinds_itself(holder.value, name)):
                continue
            if isinstance(holder, cst.Call) and holder.func is call:
                called = True
                continue
        return False
    return called


def built_modules(model: "SemanticModel", funcs: list[FuncInfo]) -> list[BuiltModule]:
    """The parameter-owning modules built and only applied in each of ``funcs``."""
    finder = _Finder(model, _ConstructorReader(model.imports, model.classes))
    found: list[BuiltModule] = []
    for func in funcs:
        if func.node is not None:
            found.extend(_in_function(func, finder))
    return found

"""What a call reaches on the objects it is given: methods called on a function's parameters and
on attributes bound from them (the facts LL304 needs about wrappers and helpers).

Two summaries, computed from the file's facts:

- a *class* summary, ``stores``: which attributes ``__init__`` binds to which of its parameters
  (``def __init__(self, quantizer): self.quantizer = quantizer``), when no other method of the
  class binds them again;
- a *function* summary, ``receiver_calls``: the methods it calls on a path rooted in one of its
  parameters whose class it cannot know itself (``self.quantizer.apply_init(...)`` in a method,
  ``q.apply_init(...)`` in a helper given ``q``): ``(parameter, attribute chain, method)``.

A call of such a function is then resolved where the objects are known: the argument given for
the parameter (for ``self``, the receiver), followed along the chain through the constructors'
``stores`` (``Controller(model).initialize(x)``: ``self.quantizer`` is ``model``), ends at an
object whose class is known (``model = Quantizer()``), whose method is looked up there. When the
chain ends at one of the caller's own parameters instead, the caller gets the entry (bottom-up).
Anything not known on the way (an argument that is a call, a name bound twice, an attribute no
``__init__`` binds from its argument): unknown, nothing reached.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import libcst as cst

from leaflint.model.facts import ArgCall, CallRef, ClassInfo, FuncInfo
from leaflint.model.imports import dotted
from leaflint.model.summaries import bind_arguments
from leaflint.model.values import Arg, ModuleInstance, SelfRef, Value
from leaflint.model.walk import children

if TYPE_CHECKING:
    from leaflint.model.semantic import SemanticModel

Reach = tuple[str, tuple[str, ...], str]  # (parameter, attribute chain below it, method)
_DEPTH = 6  # constructors wrapping constructors: deep enough for real code


def stores(model: "SemanticModel", cls: ClassInfo) -> dict[str, str]:
    """Attribute -> the ``__init__`` parameter it is bound to, for attributes nothing else in the
    class binds."""
    found: dict[str, str] = {}
    others: set[str] = set()
    for assign in model.attr_assigns:
        func = assign.ctx.func
        if func.cls is not cls or not isinstance(assign.owner, SelfRef) or assign.owner.cls != cls.name:
            continue
        value = assign.value
        if func.name == "__init__" and isinstance(value, Arg) and value.name in func.params \
                and value.name != func.self_name and assign.attr not in found and not assign.ctx.ifs:
            found[assign.attr] = value.name
        else:
            others.add(assign.attr)
    return {attr: param for attr, param in found.items() if attr not in others}


def receiver_calls(model: "SemanticModel") -> dict[int, set[Reach]]:
    """Function id -> the methods it calls on paths rooted in its parameters (module docstring),
    as the collector recorded them (``CallFacts._record_receiver_call``)."""
    return {id(func): set(func.receiver_calls) for func in model.funcs if func.receiver_calls}


class Resolver:
    """Resolves, at one call, what a callee's receiver calls reach (module docstring)."""

    def __init__(self, model: "SemanticModel") -> None:
        self.model = model
        self.by_node = {id(call.node): call for call in model.arg_calls}
        self._stores: dict[str, dict[str, str]] = {}
        self._bindings: dict[int, dict[str, list[cst.BaseExpression]]] = {}

    def argument(self, callee: FuncInfo, call: ArgCall, param: str) -> Optional[tuple[cst.BaseExpression, Optional[Value]]]:
        """The expression (and its value) a call gives for a parameter; for ``self``, the receiver."""
        if param == callee.self_name:
            if call.key[0] != "method" or not isinstance(call.node.func, cst.Attribute):
                return None
            receiver = call.node.func.value
            value = ModuleInstance(("local", call.key[1])) if not isinstance(receiver, cst.Name) \
                or receiver.value != call.ctx.func.self_name else SelfRef(call.key[1])
            return receiver, value
        bound = bind_arguments(callee, call).get(param)
        if bound is None or not isinstance(bound[1], cst.BaseExpression):
            return None
        return bound[1], bound[0]

    def follow(self, call: ArgCall, node: cst.BaseExpression, value: Optional[Value],
               chain: tuple[str, ...]) -> Optional[tuple[cst.BaseExpression, Optional[Value], tuple[str, ...]]]:
        """Follow ``chain`` from the object ``node`` through the constructors that made it, in the
        function of ``call``: the object reached, or the caller's own path it stays on."""
        for _ in range(_DEPTH):
            if not chain:
                return node, value, chain
            made = self._constructor(call.ctx.func, node)
            if made is None:
                path = dotted(node)
                return (node, value, chain) if path is not None else None
            ctor, cls = made
            param = self._class_stores(cls).get(chain[0])
            init = cls.methods.get("__init__", [])
            if param is None or len(init) != 1:
                return None
            bound = bind_arguments(init[0], as_constructor(ctor, cls.name)).get(param)
            if bound is None or not isinstance(bound[1], cst.BaseExpression):
                return None
            node, value, chain = bound[1], bound[0], chain[1:]
        return None

    def _class_stores(self, cls: ClassInfo) -> dict[str, str]:
        if cls.name not in self._stores:
            project = self.model.project
            self._stores[cls.name] = stores(self.model, cls) if cls.node is not None else \
                project.class_stores(cls.name) if project is not None else {}
        return self._stores[cls.name]

    def _constructor(self, func: FuncInfo, node: cst.BaseExpression) -> Optional[tuple[ArgCall, ClassInfo]]:
        """The call of a class of this file that made ``node``: the node itself, or the one
        assignment of a local name in the function."""
        if isinstance(node, cst.Name):
            bound = self._names(func).get(node.value, [])
            if len(bound) != 1 or bound[0] is None or node.value in func.params:
                return None
            node = bound[0]
        if not isinstance(node, cst.Call) or not isinstance(node.func, (cst.Name, cst.Attribute)):
            return None
        cls = self.model.classes.get(node.func.value) if isinstance(node.func, cst.Name) else None
        if (cls is None or cls.node is None) and self.model.project is not None:
            pid = self.model.project.class_id(self.model.imports.qualname(node.func))
            cls = self.model.classes.get(pid) if pid is not None else None  # a class of another module
        call = self.by_node.get(id(node))
        if cls is None or call is None:
            return None
        return call, cls

    def _names(self, func: FuncInfo) -> dict[str, list[cst.BaseExpression]]:
        """Local name -> what each binding of it in the function gives: the value of a plain
        ``name = value``, None for any other binding (a loop target, ``+=``, a tuple target)."""
        key = id(func)
        if key not in self._bindings:
            found: dict[str, list] = {}
            stack: list[cst.CSTNode] = [func.node.body if func.node is not None else self.model.module]
            while stack:
                node = stack.pop()
                if isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
                    continue
                if isinstance(node, cst.Assign):
                    for target in node.targets:
                        plain = isinstance(target.target, cst.Name) and len(node.targets) == 1
                        for name in _target_names(target.target):
                            found.setdefault(name, []).append(node.value if plain else None)
                elif isinstance(node, (cst.AugAssign, cst.AnnAssign, cst.For, cst.AsName, cst.NamedExpr, cst.CompFor)):
                    for name in _target_names(getattr(node, "target", None) or getattr(node, "name", None)):
                        found.setdefault(name, []).append(None)
                stack.extend(children(node))
            self._bindings[key] = found
        return self._bindings[key]

    def methods(self, value: Optional[Value], method: str, call: ArgCall) -> list[FuncInfo]:
        """The methods ``method`` of the class of ``value`` (an instance of a class of this file)."""
        if isinstance(value, SelfRef):
            cls = value.cls
        elif isinstance(value, ModuleInstance) and value.kind[0] == "local":
            cls = value.kind[1]  # a class of this file, or of another module (its project id)
        else:
            return []
        return self.model.callees(CallRef(("method", cls, method), call.scope, call.ctx))


def as_constructor(call: ArgCall, cls: str) -> ArgCall:
    """A call of class ``cls`` seen as a call of its ``__init__`` (which binds ``self`` itself)."""
    return ArgCall(("method", cls, "__init__"), call.scope, call.ctx, call.node, call.args, call.arg_roots, call.seq)


def _target_names(target: Optional[cst.CSTNode]) -> list[str]:
    if isinstance(target, cst.Name):
        return [target.value]
    if isinstance(target, (cst.Tuple, cst.List)):
        return [n for element in target.elements for n in _target_names(element.value)]
    if isinstance(target, cst.StarredElement):
        return _target_names(target.value)
    return []

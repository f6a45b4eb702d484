"""LL4 facts: tensors saved for backward, then written in place before that backward.

Two parts, both torch-free:

- ``SavedTable``: the generated table ``leaflint/data/saved_tensors.json`` (see
  ``tools/gen_saved_table.py``): which inputs and outputs each op saves, and under which
  requires-grad condition (``x * w`` saves ``x`` only when ``w`` requires grad).
- ``saved_hits(model)``: a dataflow over each function's statements, in order. Values are
  abstract tensors (does it require grad, which storage it aliases, which saves its graph
  holds). A call whose table entry saves an argument (or its result) records a *save* on that
  storage; an in-place write to a storage with live saves records a *hit*; a ``backward()``
  over a graph that holds the save turns the hit into a finding (and frees the graph unless
  ``retain_graph=True``). In ``forward`` of an ``nn.Module``, a hit whose save reaches the
  returned value is a finding too: the module's output is what gets backpropagated.

Unknown answers give no finding (precision first): a save counts only when the table says it
happens for requires-grad facts the analysis knows; a write only on a value it tracks.
"""

from __future__ import annotations

import itertools
import json
import os
import weakref
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Iterable, Optional, Union

import libcst as cst

from leaflint.model import torchapi as api
from leaflint.model.imports import dotted
from leaflint.model.semantic import Context, FuncInfo, Grad, SemanticModel
from leaflint.model.values import Attr, ModuleInstance, SelfRef

TABLE_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data",
                          "saved_tensors.json")

# Tensor methods and torch functions whose result aliases the input's storage and version
# counter (a write through either is seen by autograd's check).
_ALIAS_METHODS = api.VIEW_METHODS | {"detach", "__getitem__", "view_as", "expand_as", "as_strided",
                                     "split", "chunk", "unbind"}
_NOT_WRITES = api.NOT_INPLACE_METHODS | {"zero_grad", "requires_grad_", "train", "eval", "apply",
                                         "register_buffer", "to_", "share_memory_"}
_OPTIMIZER_PREFIX = "torch.optim."


# ------------------------------------------------------------------------------------ table
@dataclass(frozen=True)
class Overload:
    args: tuple[str, ...]          # tensor arguments, schema order
    positional: tuple[str, ...]    # every positional argument, schema order
    saves_inputs: dict             # arg -> None (always) or tuple of args (when any requires grad)
    saves_output: bool


class SavedTable:
    """The generated table: ops, composite Python functions, operators, torch.nn modules."""

    def __init__(self, data: dict) -> None:
        self.torch_version = data.get("torch_version", "?")
        self.composites = data.get("composites", {})
        self.operators = data.get("operators", {})
        self.modules = data.get("modules", {})
        self._ops = data.get("ops", {})

    def has_method(self, name: str) -> bool:
        entry = self._ops.get(name)
        return entry is not None and entry.get("method", False)

    def overloads(self, name: str) -> list[tuple[str, Overload]]:
        entry = self._ops.get(name)
        if entry is None:
            return []
        found = []
        for overload, raw in entry["overloads"].items():
            saves = {k: (None if v is None else tuple(v)) for k, v in raw["saves_inputs"].items()}
            found.append((overload, Overload(tuple(raw["args"]), tuple(raw["positional"]), saves,
                                             bool(raw["saves_output"]))))
        # the all-tensor overloads first: `x * w` is mul.Tensor
        found.sort(key=lambda item: (item[0] not in ("", "Tensor"), item[0]))
        return found

    def resolve(self, name: str, tensor_flags: list[Optional[bool]]) -> Optional[tuple[str, Overload]]:
        """The overload that fits which positional arguments are tensors (None: unknown)."""
        if name in self.composites:
            return None
        for overload_name, overload in self.overloads(name):
            ok = True
            for i, flag in enumerate(tensor_flags):
                if i >= len(overload.positional):
                    break
                if flag is not None and (overload.positional[i] in overload.args) != flag:
                    ok = False
                    break
            if ok:
                return overload_name, overload
        return None

    def saves_output(self, name: str) -> bool:
        return any(o.saves_output for _, o in self.overloads(name))


@lru_cache(maxsize=1)
def load_table(path: str = TABLE_PATH) -> SavedTable:
    with open(path, encoding="utf-8") as f:
        return SavedTable(json.load(f))


# ----------------------------------------------------------------------------- abstract values
_ids = itertools.count(1)


@dataclass(frozen=True)
class Save:
    id: int
    root: str                  # the storage it keeps (an alias of its version counter)
    kind: str                  # "input" | "output" | "params"
    op: str                    # the op that saved it (``sigmoid``, ``mm``, ``D(...)``)
    node: cst.CSTNode          # the call or operator that saved it
    what: str                  # the saved expression's text
    # Empty: the save certainly happens. Otherwise the unknown-requires-grad values (function
    # arguments) any of which requiring grad makes it happen.
    cond: frozenset = frozenset()


@dataclass(frozen=True)
class Tensor:
    rg: Optional[bool]                      # requires grad (None: unknown)
    root: str                               # storage identity: views and detach() share it
    graph: frozenset = frozenset()          # ids of the saves its graph holds
    versioned: bool = True                  # False for a ``.data`` alias (writes bypass autograd)
    param: bool = False                     # a parameter (or a view of one)
    srcs: frozenset = frozenset()           # when rg is None: the arguments it may require grad through


@dataclass(frozen=True)
class Module:
    root: str
    kind: tuple                             # ("torch", "Linear") | ("local", "Net") | ("seq", n)
    inplace: bool = False
    trainable: bool = True
    param_layers: int = 0                   # parameter-owning layers inside (local / Sequential)
    last_op: Optional[str] = None           # a Sequential's last layer's op (its output is the container's)


@dataclass(frozen=True)
class Optimizer:
    roots: tuple[str, ...]


@dataclass(frozen=True)
class Params:
    root: str


Value = Union[Tensor, Module, Optimizer, Params]


@dataclass(frozen=True)
class Write:
    node: cst.CSTNode          # the statement or call that writes
    target: cst.CSTNode        # the written expression
    kind: str                  # method | augassign | setitem | inplace_fn | out | step | update
    detail: str                # ``mul_``, ``+=``, ``opt_D.step()``
    in_loop: bool
    stmt: Optional[cst.CSTNode]


@dataclass(frozen=True)
class Hit:
    """A confirmed LL4 event: ``write`` changed what ``save`` keeps before ``backward`` ran."""

    save: Save
    write: Write
    backward: Optional[cst.CSTNode]     # the backward() call, or None for a module's forward
    func: FuncInfo
    retained: bool = False              # the save survived an earlier backward(retain_graph=True)


@dataclass
class _State:
    env: dict = field(default_factory=dict)
    live: dict = field(default_factory=dict)        # save id -> Save
    hits: list = field(default_factory=list)        # (Save, Write)
    retained: set = field(default_factory=set)      # save ids kept by retain_graph=True

    def copy(self) -> "_State":
        return _State(dict(self.env), dict(self.live), list(self.hits), set(self.retained))

    def merge(self, other: "_State") -> None:
        for name in set(self.env) | set(other.env):
            a, b = self.env.get(name), other.env.get(name)
            if a != b:
                self.env[name] = _join(a, b)
        self.live.update(other.live)
        self.hits.extend(h for h in other.hits if h not in self.hits)
        self.retained |= other.retained


def _join(a: Optional[Value], b: Optional[Value]) -> Optional[Value]:
    """Merge two paths' values. A tensor and a non-tensor (``total = 0`` before a loop that adds
    losses) stay the tensor: ``backward()`` and in-place writes only work on that path."""
    if a is None or b is None:
        other = a if b is None else b
        return other if isinstance(other, Tensor) else None
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        rg = a.rg if a.rg == b.rg else None
        root = a.root if a.root == b.root else f"t{next(_ids)}"
        return Tensor(rg, root, a.graph | b.graph, a.versioned and b.versioned, a.param and b.param,
                      a.srcs | b.srcs)
    return None


def related(a: str, b: str) -> bool:
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


# ------------------------------------------------------------------------------ the analysis
class _Function:
    """One function's statements, in order, over abstract values."""

    def __init__(self, model: SemanticModel, table: SavedTable, info: FuncInfo,
                 globals_env: dict) -> None:
        self.model = model
        self.table = table
        self.info = info
        self.globals_env = globals_env
        self.found: list[Hit] = []
        self.returned: frozenset = frozenset()
        self.returned_value: Optional[Tensor] = None
        self.loop_depth = 0

    # ---------------------------------------------------------------- entry
    def run(self, body: Iterable[cst.CSTNode], state: _State) -> _State:
        grad = self.model.grad_at(Context(self.info, Grad.INHERIT, None))
        self.block(body, state, grad)
        return state

    def block(self, body: Iterable[cst.CSTNode], state: _State, grad: Grad) -> Grad:
        for stmt in body:
            grad = self.statement(stmt, state, grad)
        return grad

    def statement(self, stmt: cst.CSTNode, state: _State, grad: Grad) -> Grad:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                grad = self.small(small, stmt, state, grad)
        elif isinstance(stmt, cst.If):
            self.expr(stmt.test, state, grad, stmt)
            other = state.copy()
            self.block(_body(stmt.body), state, grad)
            if stmt.orelse is not None:
                orelse = stmt.orelse
                self.block([orelse] if isinstance(orelse, cst.If) else _body(orelse.body), other, grad)
            state.merge(other)
        elif isinstance(stmt, (cst.For, cst.While)):
            if isinstance(stmt, cst.For):
                items = self.expr(stmt.iter, state, grad, stmt)
                self.bind(stmt.target, self._item(items), state)
            else:
                self.expr(stmt.test, state, grad, stmt)
            self.loop_depth += 1
            before = state.copy()
            for _ in range(2):  # the second pass sees a write meet the previous iteration's save
                self.block(_body(stmt.body), state, grad)
                if isinstance(stmt, cst.For):
                    self.bind(stmt.target, self._item(items), state)
            self.loop_depth -= 1
            state.merge(before)
            if stmt.orelse is not None:
                self.block(_body(stmt.orelse.body), state, grad)
        elif isinstance(stmt, cst.With):
            inner = grad
            for item in stmt.items:
                effect = self._grad_effect(item.item)
                if effect is not None:
                    inner = effect
                else:
                    value = self.expr(item.item, state, grad, stmt)
                    if item.asname is not None:
                        self.bind(item.asname.name, value, state)
            self.block(_body(stmt.body), state, inner)
        elif isinstance(stmt, cst.Try):
            start = state.copy()
            self.block(_body(stmt.body), state, grad)
            for handler in stmt.handlers:
                other = start.copy()
                self.block(_body(handler.body), other, grad)
                state.merge(other)
            if stmt.orelse is not None:
                self.block(_body(stmt.orelse.body), state, grad)
            if stmt.finalbody is not None:
                self.block(_body(stmt.finalbody.body), state, grad)
        return grad

    def small(self, small: cst.CSTNode, stmt: cst.SimpleStatementLine, state: _State, grad: Grad) -> Grad:
        if isinstance(small, cst.Assign):
            value = self.expr(small.value, state, grad, stmt)
            for target in small.targets:
                self.assign(target.target, value, small.value, stmt, state, grad)
        elif isinstance(small, cst.AnnAssign) and small.value is not None:
            value = self.expr(small.value, state, grad, stmt)
            self.assign(small.target, value, small.value, stmt, state, grad)
        elif isinstance(small, cst.AugAssign):
            value = self.expr(small.value, state, grad, stmt)
            target = self.expr(small.target, state, grad, stmt)
            op = type(small.operator).__name__
            if isinstance(target, Tensor) and op != "MatrixMultiplyAssign":
                detail = cst.Module([]).code_for_node(small.operator).strip()
                kind = "setitem" if isinstance(small.target, cst.Subscript) else "augassign"
                self.write(target, Write(small, small.target, kind, detail, self.loop_depth > 0, stmt), state)
                self.rebind_written(small.target, target, value, state, grad)
        elif isinstance(small, cst.Expr):
            call = small.value
            if isinstance(call, cst.Call) and self._is_set_grad_enabled(call):
                effect = self._grad_effect(call)
                return effect if effect is not None else grad
            self.expr(call, state, grad, stmt)
        elif isinstance(small, cst.Return) and small.value is not None:
            value = self.expr(small.value, state, grad, stmt)
            parts = [value] if isinstance(value, Tensor) else []
            if isinstance(small.value, cst.Tuple):
                parts = [self.expr(e.value, state, grad, stmt) for e in small.value.elements]
            for sub in parts:
                if isinstance(sub, Tensor):
                    self.returned |= sub.graph
                    self.returned_value = sub if self.returned_value is None else _join(self.returned_value, sub)
        return grad

    # ---------------------------------------------------------------- binding and writing
    def bind(self, target: cst.BaseExpression, value: Optional[Value], state: _State) -> None:
        if isinstance(target, cst.Name):
            state.env[target.value] = value
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                item = value if isinstance(value, Tensor) else None
                if isinstance(item, Tensor):
                    item = replace(item, root=f"t{next(_ids)}", param=False)
                self.bind(element.value, item, state)

    def assign(self, target: cst.BaseExpression, value: Optional[Value], value_node: cst.BaseExpression,
               stmt: cst.CSTNode, state: _State, grad: Grad) -> None:
        if isinstance(target, cst.Subscript):
            base = self.expr(target.value, state, grad, stmt)
            if isinstance(base, Tensor):
                self.write(base, Write(stmt, target.value, "setitem", "[...] =", self.loop_depth > 0, stmt), state)
                self.rebind_written(target.value, base, value, state, grad)
            return
        if isinstance(target, cst.Attribute):
            path = dotted(target)
            if path is not None and path.startswith("self.") and isinstance(value, (Tensor, Module)):
                state.env[path] = value
            return
        self.bind(target, value, state)

    def rebind_written(self, target_node: cst.BaseExpression, target: Tensor, value: Optional[Value],
                       state: _State, grad: Grad) -> None:
        """After an in-place write the target's graph holds the written value's graph too."""
        graph = target.graph | (value.graph if isinstance(value, Tensor) else frozenset())
        rg = target.rg
        if grad is Grad.ON and isinstance(value, Tensor) and value.rg:
            rg = True
        updated = replace(target, graph=graph, rg=rg)
        node = target_node
        while isinstance(node, cst.Subscript):
            node = node.value
        if isinstance(node, cst.Name) and isinstance(state.env.get(node.value), Tensor):
            state.env[node.value] = replace(state.env[node.value], graph=graph, rg=rg if rg else state.env[node.value].rg)
        elif isinstance(node, cst.Name):
            state.env[node.value] = updated

    def write(self, target: Tensor, write: Write, state: _State) -> None:
        if not target.versioned:
            return  # a .data alias: LL2's business (no version bump, no error)
        for save in state.live.values():
            if related(save.root, target.root) and (save, write) not in state.hits:
                state.hits.append((save, write))

    def write_roots(self, roots: Iterable[str], write: Write, state: _State) -> None:
        for root in roots:
            self.write(Tensor(False, root), write, state)

    def backward(self, node: cst.Call, loss: Optional[Value], retain: bool, state: _State) -> None:
        if not isinstance(loss, Tensor):
            return
        for save, write in state.hits:
            if save.id in loss.graph and _certain(save, loss):
                self.found.append(Hit(save, write, node, self.info, save.id in state.retained))
        if retain:
            state.retained |= set(loss.graph)
            return
        for sid in loss.graph:
            state.live.pop(sid, None)
        state.hits = [(s, w) for s, w in state.hits if s.id in state.live]

    def finish(self, state: _State) -> None:
        """In forward of a module: hits whose save reaches the returned value."""
        if not self.info.in_forward:
            return
        for save, write in state.hits:
            if save.id in self.returned and _certain(save, self.returned_value):
                self.found.append(Hit(save, write, None, self.info))

    # ---------------------------------------------------------------- expressions
    def expr(self, node: cst.BaseExpression, state: _State, grad: Grad, stmt: cst.CSTNode) -> Optional[Value]:
        if isinstance(node, cst.Name):
            if node.value in state.env:
                return state.env[node.value]
            return self.globals_env.get(node.value)
        if isinstance(node, cst.Attribute):
            return self.attribute(node, state, grad, stmt)
        if isinstance(node, cst.Subscript):
            base = self.expr(node.value, state, grad, stmt)
            for element in node.slice:
                if isinstance(element.slice, cst.Index):
                    self.expr(element.slice.value, state, grad, stmt)
            if isinstance(base, Tensor):
                return base  # basic indexing is a view; advanced indexing saves nothing we track
            return None
        if isinstance(node, cst.Call):
            return self.call(node, state, grad, stmt)
        if isinstance(node, cst.BinaryOperation):
            left = self.expr(node.left, state, grad, stmt)
            right = self.expr(node.right, state, grad, stmt)
            op = self.table.operators.get(type(node.operator).__name__)
            if op is None:
                return self.unknown_op([left, right], grad)
            return self.apply(op, node, [(left, node.left), (right, node.right)], {}, grad, state)
        if isinstance(node, cst.UnaryOperation):
            inner = self.expr(node.expression, state, grad, stmt)
            return self.unknown_op([inner], grad) if isinstance(inner, Tensor) else None
        if isinstance(node, (cst.Tuple, cst.List)):
            items = [self.expr(e.value, state, grad, stmt) for e in node.elements]
            tensors = [i for i in items if isinstance(i, Tensor)]
            if tensors:
                return self.unknown_op(tensors, grad)
            return None
        if isinstance(node, cst.IfExp):
            self.expr(node.test, state, grad, stmt)
            return _join(self.expr(node.body, state, grad, stmt), self.expr(node.orelse, state, grad, stmt))
        if isinstance(node, cst.BooleanOperation):
            self.expr(node.left, state, grad, stmt)
            self.expr(node.right, state, grad, stmt)
        return None

    def attribute(self, node: cst.Attribute, state: _State, grad: Grad, stmt: cst.CSTNode) -> Optional[Value]:
        path = dotted(node)
        if path is not None and path in state.env:
            return state.env[path]
        attr = node.attr.value
        base = self.expr(node.value, state, grad, stmt)
        if attr == "data" and isinstance(base, Tensor):
            return replace(base, rg=False, versioned=False, graph=frozenset())
        if attr in ("grad", "shape", "dtype", "device", "requires_grad", "is_leaf"):
            return None
        if isinstance(base, Tensor):
            return base if attr in api.VIEW_ATTRIBUTES else None
        semantic = self.semantic_value(node)
        if semantic is not None:
            if self.model.leaf(semantic) is not None:
                return Tensor(True, path or f"t{next(_ids)}", param=True)
            module = self.model.module_of(semantic)
            if module is not None:
                return self.module_value(path or f"m{next(_ids)}", module, self._built_by(semantic))
        if isinstance(base, Module):
            return Tensor(base.trainable, f"{base.root}.{attr}", param=base.trainable) \
                if attr in api.LAYER_PARAMETERS.get(base.kind[1] if base.kind[0] == "torch" else "", ()) else None
        return None

    def semantic_value(self, node: cst.BaseExpression):
        """The model's value for ``self.a.b`` chains (the parameters and modules of the class)."""
        if isinstance(node, cst.Name):
            if node.value == self.info.self_name and self.info.cls is not None:
                return SelfRef(self.info.cls.name)
            return None
        if isinstance(node, cst.Attribute):
            base = self.semantic_value(node.value)
            if base is None:
                return None
            return Attr(base, node.attr.value)
        return None

    def module_value(self, root: str, module: ModuleInstance, built: Optional[cst.Call] = None) -> Module:
        layers, last_op = 0, None
        if module.kind[0] == "local":
            cls = self.model.classes.get(module.kind[1])
            if cls is not None:
                layers = len(cls.params) + sum(1 for sub in cls.submodules.values()
                                               if self._owns_parameters(sub, {cls.name}))
        elif built is not None:
            layers, last_op = self._container_facts(module.kind[1], [a.value for a in built.args if a.keyword is None])
        elif module.kind[1] in api.LAYER_PARAMETERS:
            layers = 1
        return Module(root, module.kind, module.inplace, not module.frozen, layers, last_op)

    def _owns_parameters(self, module: ModuleInstance, seen: set) -> bool:
        """Whether a submodule holds trainable parameters (a class that contains itself stops)."""
        if module.frozen:
            return False
        kind, name = module.kind
        if kind == "torch":
            return name in api.LAYER_PARAMETERS
        if name in seen:
            return False
        cls = self.model.classes.get(name)
        if cls is None:
            return False
        seen = seen | {name}
        return bool(cls.params) or any(self._owns_parameters(sub, seen) for sub in cls.submodules.values())

    def _built_by(self, semantic) -> Optional[cst.Call]:
        """The ``nn.Sequential(...)`` call that ``self.x = ...`` assigned in the class."""
        if not isinstance(semantic, Attr) or not isinstance(semantic.base, SelfRef):
            return None
        for assign in self.model.attr_assigns:
            if isinstance(assign.owner, SelfRef) and assign.owner.cls == semantic.base.cls \
                    and assign.attr == semantic.name and isinstance(assign.value_node, cst.Call):
                return assign.value_node
        return None

    def _container_facts(self, layer: str, arg_nodes: list) -> tuple[int, Optional[str]]:
        """Parameter-owning layers of a ``Sequential(...)`` and the op of its last layer."""
        if layer not in ("Sequential", "ModuleList"):
            return (1 if layer in api.LAYER_PARAMETERS else 0), None
        layers, last_op = 0, None
        for arg_node in arg_nodes:
            last_op = None
            if isinstance(arg_node, cst.Call):
                inner = api.torch_nn_layer(self.model.imports.qualname(arg_node.func))
                if inner in api.LAYER_PARAMETERS or (isinstance(arg_node.func, cst.Name)
                                                     and arg_node.func.value in self.model.classes):
                    layers += 1
                spec = self.table.modules.get(inner or "")
                if spec is not None and "weight_arg" not in spec:
                    last_op = spec["op"]
        return layers, last_op

    def unknown_op(self, inputs: list, grad: Grad) -> Tensor:
        tensors = [i for i in inputs if isinstance(i, Tensor)]
        graph = frozenset().union(*(t.graph for t in tensors)) if tensors else frozenset()
        rg, srcs = _flow(tensors, grad)
        return Tensor(rg, f"t{next(_ids)}", graph, srcs=srcs)

    # ---------------------------------------------------------------- calls
    def call(self, node: cst.Call, state: _State, grad: Grad, stmt: cst.CSTNode) -> Optional[Value]:
        func = node.func
        args = [(self.expr(a.value, state, grad, stmt), a.value) for a in node.args if a.keyword is None and not a.star]
        kwargs = {a.keyword.value: (self.expr(a.value, state, grad, stmt), a.value)
                  for a in node.args if a.keyword is not None}
        for a in node.args:
            if a.star:
                self.expr(a.value, state, grad, stmt)
        qual = self.model.imports.qualname(func)
        if isinstance(func, cst.Attribute) and qual is None:
            return self.method_call(node, func, args, kwargs, state, grad, stmt)
        if qual is not None:
            return self.torch_call(node, qual, args, kwargs, state, grad, stmt)
        callee = self.expr(func, state, grad, stmt)
        if isinstance(func, cst.Name) and func.value in self.model.classes:
            cls = self.model.classes[func.value]
            module = ModuleInstance(("local", cls.name))
            return self.module_value(f"m{next(_ids)}", module)
        if isinstance(callee, Module):
            return self.module_call(node, callee, args, kwargs, state, grad, stmt)
        inputs = [v for v, _ in args] + [v for v, _ in kwargs.values()]
        if any(isinstance(i, Tensor) for i in inputs):
            return self.unknown_op(inputs, grad)
        return None

    def method_call(self, node: cst.Call, func: cst.Attribute, args, kwargs, state: _State, grad: Grad,
                    stmt: cst.CSTNode) -> Optional[Value]:
        method = func.attr.value
        callee = self.attribute(func, state, grad, stmt)
        if isinstance(callee, Module):
            return self.module_call(node, callee, args, kwargs, state, grad, stmt)
        receiver = self.expr(func.value, state, grad, stmt)
        if isinstance(receiver, Module):
            if method == "parameters":
                return Params(receiver.root)
            if method == "forward" or method == "__call__":
                return self.module_call(node, receiver, args, kwargs, state, grad, stmt)
            return None
        if isinstance(receiver, Optimizer):
            if method == "step":
                write = Write(node, func.value, "step", f"{self.model.text(func.value)}.step()",
                              self.loop_depth > 0, stmt)
                self.write_roots(receiver.roots, write, state)
            return None
        if not isinstance(receiver, Tensor):
            if method in ("backward",) and receiver is None:
                return None
            inputs = [v for v, _ in args] + [v for v, _ in kwargs.values()]
            return self.unknown_op(inputs, grad) if any(isinstance(i, Tensor) for i in inputs) else None
        if method == "backward":
            retain = _is_true(kwargs.get("retain_graph", (None, None))[1]) or \
                (len(args) >= 2 and _is_true(args[1][1]))
            self.backward(node, receiver, bool(retain), state)
            return None
        if method in ("detach",):
            return replace(receiver, rg=False, graph=frozenset())
        if method in ("clone", "contiguous") or method in ("item", "tolist", "numpy", "cpu", "to", "float",
                                                            "double", "half", "size", "dim", "numel"):
            if method in ("item", "tolist", "numpy", "size", "dim", "numel"):
                return None
            rg, srcs = _flow([receiver], grad)
            return Tensor(rg, f"t{next(_ids)}", receiver.graph, srcs=srcs)
        if method.endswith("_") and not method.startswith("_") and method not in _NOT_WRITES:
            self.write(receiver, Write(node, func.value, "method", method, self.loop_depth > 0, stmt), state)
            result = self.apply(method[:-1], node, [(receiver, func.value)] + list(args), kwargs, grad, state,
                                result_root=receiver.root)
            updated = replace(receiver, graph=receiver.graph | (result.graph if isinstance(result, Tensor) else frozenset()),
                              rg=True if (grad is Grad.ON and _any_rg([v for v, _ in args]) ) else receiver.rg)
            self.rebind_name(func.value, updated, state)
            return updated
        if method in _ALIAS_METHODS:
            base = receiver
            if grad is not Grad.ON:
                base = replace(base, rg=False if not base.param else base.rg)
            return base
        if self.table.has_method(method) or method in self.table.composites:
            return self.apply(method, node, [(receiver, func.value)] + list(args), kwargs, grad, state)
        return self.unknown_op([receiver] + [v for v, _ in args], grad)

    def rebind_name(self, node: cst.BaseExpression, value: Tensor, state: _State) -> None:
        while isinstance(node, cst.Subscript):
            node = node.value
        if isinstance(node, cst.Name) and isinstance(state.env.get(node.value), Tensor):
            old = state.env[node.value]
            state.env[node.value] = replace(old, graph=old.graph | value.graph, rg=old.rg or value.rg)

    def torch_call(self, node: cst.Call, qual: str, args, kwargs, state: _State, grad: Grad,
                   stmt: cst.CSTNode) -> Optional[Value]:
        name = qual.rsplit(".", 1)[-1]
        if qual in api.PARAMETER:
            frozen = _is_true(kwargs.get("requires_grad", (None, None))[1]) is False
            return Tensor(not frozen, f"t{next(_ids)}", param=not frozen)
        if qual in ("torch.autograd.backward",) and args:
            retain = _is_true(kwargs.get("retain_graph", (None, None))[1])
            self.backward(node, args[0][0], bool(retain), state)
            return None
        if qual == "torch.autograd.grad" and args:
            retain = _is_true(kwargs.get("retain_graph", (None, None))[1])
            self.backward(node, args[0][0], bool(retain), state)
            return None
        layer = api.torch_nn_layer(qual)
        if layer is not None:
            return self.construct(node, layer, args, kwargs, state)
        if qual.startswith(_OPTIMIZER_PREFIX) and name[:1].isupper() and args:
            return Optimizer(self.optimizer_roots(args[0][1], args[0][0], state, grad, stmt))
        if not qual.startswith("torch."):
            inputs = [v for v, _ in args] + [v for v, _ in kwargs.values()]
            return self.unknown_op(inputs, grad) if any(isinstance(i, Tensor) for i in inputs) else None
        if name in api.FACTORIES or name in ("stack", "cat", "zeros_like", "ones_like", "empty_like"):
            rg_arg = kwargs.get("requires_grad")
            if name in api.FACTORIES:
                rg = _is_true(rg_arg[1]) if rg_arg is not None else False
                return Tensor(rg, f"t{next(_ids)}")
        inplace_kw = kwargs.get("inplace")
        if inplace_kw is not None and _is_true(inplace_kw[1]) and args and isinstance(args[0][0], Tensor):
            target = args[0][0]
            self.write(target, Write(node, args[0][1], "inplace_fn", f"{name}(..., inplace=True)",
                                     self.loop_depth > 0, stmt), state)
            return self.apply(name, node, list(args), {}, grad, state, result_root=target.root)
        if name.endswith("_") and not name.startswith("_") and args and isinstance(args[0][0], Tensor) \
                and not qual.startswith(api.NOT_INPLACE_FUNCTION_PREFIXES):
            target = args[0][0]
            self.write(target, Write(node, args[0][1], "inplace_fn", name, self.loop_depth > 0, stmt), state)
            return self.apply(name[:-1], node, list(args), {}, grad, state, result_root=target.root)
        out = kwargs.get("out")
        if out is not None and isinstance(out[0], Tensor):
            self.write(out[0], Write(node, out[1], "out", f"{name}(..., out=...)", self.loop_depth > 0, stmt), state)
        return self.apply(name, node, list(args), kwargs, grad, state)

    def construct(self, node: cst.Call, layer: str, args, kwargs, state: _State) -> Module:
        inplace = _is_true(kwargs.get("inplace", (None, None))[1]) is True
        layers, last_op = self._container_facts(layer, [n for _, n in args])
        return Module(f"m{next(_ids)}", ("torch", layer), inplace, True, layers, last_op)

    def optimizer_roots(self, node: cst.BaseExpression, value: Optional[Value], state: _State, grad: Grad,
                        stmt: cst.CSTNode) -> tuple[str, ...]:
        if isinstance(value, Params):
            return (value.root,)
        roots = []
        if isinstance(node, (cst.List, cst.Tuple)):
            for element in node.elements:
                sub = self.expr(element.value, state, grad, stmt)
                if isinstance(sub, Params):
                    roots.append(sub.root)
                elif isinstance(sub, Tensor) and sub.param:
                    roots.append(sub.root)
        if isinstance(node, cst.BinaryOperation):  # list(a.parameters()) + list(b.parameters())
            for side in (node.left, node.right):
                roots.extend(self.optimizer_roots(side, self.expr(side, state, grad, stmt), state, grad, stmt))
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value in ("list", "tuple") \
                and node.args:
            inner = node.args[0].value
            roots.extend(self.optimizer_roots(inner, self.expr(inner, state, grad, stmt), state, grad, stmt))
        return tuple(roots)

    def module_call(self, node: cst.Call, module: Module, args, kwargs, state: _State, grad: Grad,
                    stmt: cst.CSTNode) -> Optional[Value]:
        x, x_node = args[0] if args else (None, None)
        inputs = [v for v, _ in args]
        spec = self.table.modules.get(module.kind[1]) if module.kind[0] == "torch" else None
        if spec is not None:
            if module.inplace and isinstance(x, Tensor):
                self.write(x, Write(node, x_node, "inplace_fn", f"{module.kind[1]}(inplace=True)",
                                    self.loop_depth > 0, stmt), state)
                return self.apply(spec["op"], node, [(x, x_node)], {}, grad, state, result_root=x.root)
            if "weight_arg" in spec:
                weight = Tensor(module.trainable, module.root, param=module.trainable)
                named = {spec["input_arg"]: (x, x_node), spec["weight_arg"]: (weight, node.func)}
                return self.apply(spec["op"], node, [], named, grad, state, by_name=True)
            return self.apply(spec["op"], node, [(x, x_node)], {}, grad, state)
        # a local module class or a Sequential: its parameters are saved by its layers
        tensors = [i for i in inputs if isinstance(i, Tensor)]
        graph = frozenset().union(*(t.graph for t in tensors)) if tensors else frozenset()
        if grad is not Grad.ON:
            return Tensor(False, f"t{next(_ids)}", frozenset())
        in_rg, srcs = _flow(tensors, grad)
        rg = True if module.trainable and module.param_layers else in_rg
        if module.trainable and module.param_layers and (in_rg is True or module.param_layers >= 2):
            save = Save(next(_ids), module.root, "params", f"{self.model.text(node.func)}(...)", node,
                        f"the parameters of `{self.model.text(node.func)}`")
            state.live[save.id] = save
            graph = graph | {save.id}
        root = f"t{next(_ids)}"
        if module.last_op is not None and self.table.saves_output(module.last_op) and rg is not False:
            # the container's output is its last layer's, which that layer saved for its backward
            save = Save(next(_ids), root, "output", module.last_op, node, self.model.text(node),
                        srcs if rg is None else frozenset())
            state.live[save.id] = save
            graph = graph | {save.id}
        return Tensor(rg, root, graph, srcs=srcs if rg is None else frozenset())

    def apply(self, name: str, node: cst.CSTNode, args: list, kwargs: dict, grad: Grad, state: _State,
              result_root: Optional[str] = None, by_name: bool = False) -> Tensor:
        """Apply op ``name``: record the saves the table promises for the known requires-grad facts."""
        composite = self.table.composites.get(name)
        op_name = name
        named: dict[str, tuple] = {}
        if by_name:
            named = dict(kwargs)
            if name in self.table.composites:
                op_name = composite["op"]
        elif composite is not None:
            op_name = composite["op"]
            for arg_name, index in composite["args"].items():
                if index < len(args):
                    named[arg_name] = args[index]
        resolved = None
        if not named or by_name:
            flags = [isinstance(v, Tensor) if v is not None or not _is_literal(n) else False for v, n in args]
            resolved = self.table.resolve(op_name, flags) if not by_name else None
            if resolved is None and by_name:
                found = self.table.overloads(op_name)
                resolved = found[0] if found else None
            if resolved is not None and not by_name:
                for i, (value, value_node) in enumerate(args):
                    if i < len(resolved[1].positional):
                        named[resolved[1].positional[i]] = (value, value_node)
                for key, item in kwargs.items():
                    named.setdefault(key, item)
        else:
            found = self.table.overloads(op_name)
            resolved = found[0] if found else None
        tensors = [v for v, _ in list(args) + list(kwargs.values()) if isinstance(v, Tensor)]
        graph = frozenset().union(*(t.graph for t in tensors)) if tensors else frozenset()
        rg, srcs = _flow(tensors, grad)
        root = result_root or f"t{next(_ids)}"
        if rg is False or resolved is None:
            return Tensor(rg, root, graph, srcs=srcs)
        overload = resolved[1]
        saves = []
        for arg_name, condition in overload.saves_inputs.items():
            value, value_node = named.get(arg_name, (None, None))
            if not isinstance(value, Tensor) or not value.versioned:
                continue
            cond = srcs
            if condition is not None:
                needed = [named.get(c, (None, None))[0] for c in condition]
                need_rg, need_srcs = _flow([n for n in needed if isinstance(n, Tensor)], grad)
                if need_rg is False:
                    continue
                cond = need_srcs
            saves.append(Save(next(_ids), value.root, "params" if value.param else "input", op_name, node,
                              self.model.text(value_node) if value_node is not None else arg_name, cond))
        if overload.saves_output:
            saves.append(Save(next(_ids), root, "output", op_name, node, self.model.text(node), srcs))
        for save in saves:
            state.live[save.id] = save
        return Tensor(rg, root, graph | {s.id for s in saves}, srcs=srcs)

    # ---------------------------------------------------------------- helpers
    def _item(self, items: Optional[Value]) -> Optional[Value]:
        if isinstance(items, Params):
            return Tensor(True, items.root, param=True)
        return None

    def _grad_effect(self, expr: cst.BaseExpression) -> Optional[Grad]:
        call = expr if isinstance(expr, cst.Call) else None
        qual = self.model.imports.qualname(call.func if call is not None else expr) or ""
        if qual in api.NO_GRAD:
            return Grad.OFF
        if qual in api.ENABLE_GRAD:
            return Grad.ON
        if qual in api.INFERENCE_MODE:
            arg = call.args[0].value if call is not None and call.args else None
            return Grad.OFF if arg is None or _is_true(arg) is True else Grad.UNKNOWN
        if qual in api.SET_GRAD_ENABLED:
            arg = call.args[0].value if call is not None and call.args else None
            flag = _is_true(arg)
            return Grad.UNKNOWN if flag is None else (Grad.ON if flag else Grad.OFF)
        return None

    def _is_set_grad_enabled(self, call: cst.Call) -> bool:
        return (self.model.imports.qualname(call.func) or "") in api.SET_GRAD_ENABLED


def _body(block: cst.BaseSuite) -> list:
    if isinstance(block, cst.IndentedBlock):
        return list(block.body)
    if isinstance(block, cst.SimpleStatementSuite):
        return [cst.SimpleStatementLine(body=block.body)]
    return []


def _is_true(node: Optional[cst.BaseExpression]) -> Optional[bool]:
    if isinstance(node, cst.Name) and node.value in ("True", "False"):
        return node.value == "True"
    return None


def _is_literal(node: Optional[cst.BaseExpression]) -> bool:
    return isinstance(node, (cst.Integer, cst.Float, cst.Imaginary)) or \
        (isinstance(node, cst.UnaryOperation) and isinstance(node.expression, (cst.Integer, cst.Float)))


def _flow(tensors: list, grad: Grad) -> tuple[Optional[bool], frozenset]:
    """requires_grad of an op's result, and (when unknown) the arguments it depends on."""
    if grad is not Grad.ON:
        return False, frozenset()
    rg = _any_rg(tensors)
    if rg is None:
        return None, frozenset().union(*(t.srcs for t in tensors if isinstance(t, Tensor) and t.rg is None))
    return rg, frozenset()


def _certain(save: Save, loss: Optional[Tensor]) -> bool:
    """Whether the save happened, given that ``loss`` is backpropagated (so it requires grad).

    A save known to happen is certain. A save that happens when any of the arguments in
    ``save.cond`` requires grad is certain when the loss requires grad only through those
    arguments: its backward() would otherwise raise that nothing requires grad.
    """
    if not save.cond:
        return True
    return loss is not None and loss.rg is None and bool(loss.srcs) and loss.srcs <= save.cond


def _any_rg(values: Iterable) -> Optional[bool]:
    flags = [v.rg for v in values if isinstance(v, Tensor)]
    if any(f is True for f in flags):
        return True
    if flags and all(f is False for f in flags):
        return False
    return None if flags else False


def _module_env(model: SemanticModel, table: SavedTable) -> tuple[dict, Optional[_Function], _State]:
    """Module-level statements run first: their names are what functions see as globals."""
    module_func = next((f for f in model.funcs if f.node is None), None)
    state = _State()
    if module_func is None:
        return {}, None, state
    runner = _Function(model, table, module_func, {})
    body = [s for s in model.module.body if not isinstance(s, (cst.FunctionDef, cst.ClassDef))]
    runner.run(body, state)
    return state.env, runner, state


def saved_hits(model: SemanticModel, table: Optional[SavedTable] = None) -> list[Hit]:
    """Every LL4 event in the file: a write to a saved tensor before the backward that needs it."""
    table = table or load_table()
    globals_env, module_runner, _ = _module_env(model, table)
    hits: list[Hit] = list(module_runner.found) if module_runner is not None else []
    for info in model.funcs:
        if info.node is None or not isinstance(info.node.body, cst.IndentedBlock):
            continue
        if info.cls is not None and info.cls.is_autograd_function:
            continue
        runner = _Function(model, table, info, globals_env)
        state = _State()
        for param in list(info.node.params.params) + list(info.node.params.kwonly_params):
            name = param.name.value
            if name == info.self_name:
                continue
            annotation = param.annotation.annotation if param.annotation is not None else None
            if annotation is not None and model.imports.qualname(annotation) in api.PARAMETER:
                state.env[name] = Tensor(True, f"arg:{name}", param=True)
            else:
                state.env[name] = Tensor(None, f"arg:{name}", srcs=frozenset({f"arg:{name}"}))
        runner.run(_body(info.node.body), state)
        runner.finish(state)
        hits.extend(runner.found)
    seen: set = set()
    unique = []
    for hit in hits:
        key = (id(hit.write.node), id(hit.write.target))
        if key not in seen:
            seen.add(key)
            unique.append(hit)
    return unique


_CACHE: "weakref.WeakKeyDictionary[SemanticModel, list[Hit]]" = weakref.WeakKeyDictionary()


def hits_for(model: SemanticModel) -> list[Hit]:
    """``saved_hits`` once per model, shared by the LL4 rules."""
    found = _CACHE.get(model)
    if found is None:
        found = saved_hits(model)
        _CACHE[model] = found
    return found

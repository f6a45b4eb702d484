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
  ``retain_graph=True``). In ``forward`` of an ``nn.Module``, a hit whose save reaches a
  returned value is a finding too, when the saved value requires grad for certain (from a
  Parameter): the module's output is what gets backpropagated, but a value computed only from
  the method's own arguments (token ids, lengths, a kernel from a float) need not require grad.

Unknown answers give no finding (precision first): a save counts only when the table says it
happens for requires-grad facts the analysis knows; a write only on a value it tracks.
"""

from __future__ import annotations

import weakref
from dataclasses import replace
from typing import Iterable, Optional

import libcst as cst

from leaflint.model import torchapi as api
from leaflint.model.imports import dotted
from leaflint.model.syntax import index_kind
from leaflint.model.walk import children
from leaflint.model.saved_calls import CallEffects
from leaflint.model.saved_chain import chain_hits
from leaflint.model.saved_table import TABLE_PATH, SavedTable, load_table
from leaflint.model.saved_values import (
    Hit, Module, Params, Save, State, Tensor, Value, Write, certain, flow, ids, is_true, join, related,
)
from leaflint.model.semantic import Context, FuncInfo, Grad, SemanticModel
from leaflint.model.values import Attr, SelfRef

__all__ = ["Hit", "SavedTable", "TABLE_PATH", "hits_for", "load_table", "saved_hits"]


# ------------------------------------------------------------------------------ the analysis
class _Function(CallEffects):
    """One function's statements, in order, over abstract values."""

    def __init__(self, model: SemanticModel, table: SavedTable, info: FuncInfo,
                 globals_env: dict) -> None:
        self.model = model
        self.table = table
        self.info = info
        self.globals_env = globals_env
        self.found: list[Hit] = []
        self.loop_depth = 0
        self.returns: list[Optional[str]] = []  # per return: the op that saved the returned value

    # ---------------------------------------------------------------- entry
    def run(self, body: Iterable[cst.CSTNode], state: State) -> State:
        grad = self.model.grad_at(Context(self.info, Grad.INHERIT, None))
        self.block(body, state, grad)
        return state

    def block(self, body: Iterable[cst.CSTNode], state: State, grad: Grad) -> Grad:
        for stmt in body:
            if state.dead:
                break
            grad = self.statement(stmt, state, grad)
        return grad

    def statement(self, stmt: cst.CSTNode, state: State, grad: Grad) -> Grad:
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
            if stmt.finalbody is not None and not state.dead:
                self.block(_body(stmt.finalbody.body), state, grad)
        return grad

    def small(self, small: cst.CSTNode, stmt: cst.SimpleStatementLine, state: State, grad: Grad) -> Grad:
        if isinstance(small, cst.Assign):
            value = self.expr(small.value, state, grad, stmt)
            for target in small.targets:
                self.assign(target.target, value, small.value, stmt, state, grad)
        elif isinstance(small, cst.AnnAssign) and small.value is not None:
            value = self.expr(small.value, state, grad, stmt)
            self.assign(small.target, value, small.value, stmt, state, grad)
        elif isinstance(small, cst.AugAssign):
            value = self.expr(small.value, state, grad, stmt)
            if isinstance(small.target, cst.Subscript):
                # ``x[i] += v`` writes into ``x`` whatever the index (a mask too); ``d["k"] += v``
                # rebinds an item of a mapping
                target = self.expr(small.target.value, state, grad, stmt)
                kind = index_kind(small.target)
                for element in small.target.slice:
                    if isinstance(element.slice, cst.Index):
                        self.expr(element.slice.value, state, grad, stmt)
                if kind == "key":
                    target = None
                elif isinstance(target, Tensor) and kind == "tensor":
                    target = replace(target, known=True)
            else:
                target = self.expr(small.target, state, grad, stmt)
            op = type(small.operator).__name__
            if isinstance(target, Tensor) and op != "MatrixMultiplyAssign":
                detail = cst.Module([]).code_for_node(small.operator).strip()
                subscript = isinstance(small.target, cst.Subscript)
                written = small.target.value if subscript else small.target
                kind = "setitem" if subscript else "augassign"
                self.write(target, Write(small, written, kind, detail, self.loop_depth > 0, stmt), state)
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
                    self.returned(sub, state)
            self.returns.append(_saved_output_op(value, state) if len(parts) == 1 and parts[0] is value else None)
            state.dead = True  # the statements after it (on this path) do not run
        elif isinstance(small, cst.Return) or isinstance(small, cst.Raise):
            state.dead = True
        return grad

    # ---------------------------------------------------------------- binding and writing
    def bind(self, target: cst.BaseExpression, value: Optional[Value], state: State,
             value_node: Optional[cst.BaseExpression] = None) -> None:
        if isinstance(target, cst.Name):
            state.env[target.value] = value
        elif isinstance(target, (cst.Tuple, cst.List)):
            indices = len(target.elements) == 2 and _op_name(value_node) in api.VALUES_INDICES_OPS
            for i, element in enumerate(target.elements):
                item = value if isinstance(value, Tensor) else None
                if isinstance(item, Tensor):
                    item = replace(item, root=f"t{next(ids)}", param=False)
                    if indices and i == 1:  # ``values, indices = x.topk(k)``: indices carry no graph
                        item = Tensor(False, item.root)
                self.bind(element.value, item, state)

    def assign(self, target: cst.BaseExpression, value: Optional[Value], value_node: cst.BaseExpression,
               stmt: cst.CSTNode, state: State, grad: Grad) -> None:
        if isinstance(target, cst.Subscript):
            base = self.expr(target.value, state, grad, stmt)
            kind = index_kind(target)
            if kind == "key":
                return  # ``d["name"] = v``: an item of a mapping
            if isinstance(base, Tensor) and kind == "tensor":
                base = replace(base, known=True)
            if isinstance(base, Tensor):
                self.write(base, Write(stmt, target.value, "setitem", "[...] =", self.loop_depth > 0, stmt), state)
                self.rebind_written(target.value, base, value, state, grad)
            return
        if isinstance(target, cst.Attribute):
            path = dotted(target)
            if path is not None and path.startswith("self.") and isinstance(value, (Tensor, Module)):
                state.env[path] = value
            return
        self.bind(target, value, state, value_node)

    def rebind_written(self, target_node: cst.BaseExpression, target: Tensor, value: Optional[Value],
                       state: State, grad: Grad) -> None:
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

    def write(self, target: Tensor, write: Write, state: State) -> None:
        if not target.versioned:
            return  # a .data alias: LL2's business (no version bump, no error)
        if not target.known and target.root not in state.tensors:
            return  # maybe a dict or a list (``inputs[key] = v``): not known to be a tensor
        for save in state.live.values():
            if related(save.root, target.root) and (save, write) not in state.hits:
                state.hits.append((save, write))

    def write_roots(self, roots: Iterable[str], write: Write, state: State) -> None:
        for root in roots:
            self.write(Tensor(False, root), write, state)

    def backward(self, node: cst.Call, loss: Optional[Value], retain: bool, state: State) -> None:
        if not isinstance(loss, Tensor):
            return
        for save, write in state.hits:
            if save.id in loss.graph and certain(save, loss):
                self.found.append(Hit(save, write, node, self.info, save.id in state.retained))
        if retain:
            state.retained |= set(loss.graph)
            return
        for sid in loss.graph:
            state.live.pop(sid, None)
        state.hits = [(s, w) for s, w in state.hits if s.id in state.live]

    def returned(self, value: Tensor, state: State) -> None:
        """In forward of a module: the hits on this path whose save reaches the returned value."""
        if not (self.info.in_forward or self._module_call_method()):
            return
        for save, write in state.hits:
            if save.id in value.graph and not save.cond:
                self.found.append(Hit(save, write, None, self.info))

    # ---------------------------------------------------------------- expressions
    def expr(self, node: cst.BaseExpression, state: State, grad: Grad, stmt: cst.CSTNode) -> Optional[Value]:
        if isinstance(node, cst.Name):
            if node.value in state.env:
                return state.env[node.value]
            return self.globals_env.get(node.value)
        if isinstance(node, cst.Attribute):
            return self.attribute(node, state, grad, stmt)
        if isinstance(node, cst.Subscript):
            base = self.expr(node.value, state, grad, stmt)
            tensor_index = False
            for element in node.slice:
                if isinstance(element.slice, cst.Index):
                    tensor_index |= isinstance(self.expr(element.slice.value, state, grad, stmt), Tensor)
            if isinstance(base, Tensor):
                return self.index(node, base, tensor_index)
            return None
        if isinstance(node, cst.Call):
            return self.call(node, state, grad, stmt)
        if isinstance(node, cst.BinaryOperation):
            left = self.expr(node.left, state, grad, stmt)
            right = self.expr(node.right, state, grad, stmt)
            if not isinstance(left, Tensor) and not isinstance(right, Tensor):
                return None  # ``t - 1``: arithmetic on numbers
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
            return join(self.expr(node.body, state, grad, stmt), self.expr(node.orelse, state, grad, stmt))
        if isinstance(node, cst.BooleanOperation):
            self.expr(node.left, state, grad, stmt)
            self.expr(node.right, state, grad, stmt)
        return None

    def index(self, node: cst.Subscript, base: Tensor, tensor_index: bool = False) -> Optional[Tensor]:
        """``base[...]``: a view of a tensor (basic indexing), a copy (advanced indexing: a mask or
        an index tensor, ``x[mask]``), or, when ``base`` may be a container, an element with its
        own storage."""
        kind = "advanced" if tensor_index else index_kind(node)
        if kind == "key":  # ``d["name"]``: base is a mapping; the item is a value of its own, of unknown kind
            return replace(base, root=f"t{next(ids)}", param=False, known=False)
        if base.known:
            return base if kind in ("tensor", "basic") else replace(base, root=f"t{next(ids)}", param=False)
        if kind == "tensor":
            return replace(base, known=True)  # ``h[:, t]``, ``x[None]``: only a tensor is indexed so
        if kind == "basic":
            # ``xs[i]``: a row of a tensor (a view: a write to ``xs`` reaches it, once ``xs`` is
            # known to be a tensor) or an element of a list (a value of its own, of unknown kind)
            return replace(base, root=f"{base.root}.[]", param=False)
        return replace(base, root=f"t{next(ids)}", param=False)

    def attribute(self, node: cst.Attribute, state: State, grad: Grad, stmt: cst.CSTNode) -> Optional[Value]:
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
                return Tensor(True, path or f"t{next(ids)}", param=True)
            module = self.model.module_of(semantic)
            if module is not None:
                return self.module_value(path or f"m{next(ids)}", module, self._built_by(semantic))
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

    def unknown_op(self, inputs: list, grad: Grad) -> Tensor:
        tensors = [i for i in inputs if isinstance(i, Tensor)]
        graph = frozenset().union(*(t.graph for t in tensors)) if tensors else frozenset()
        rg, srcs = flow(tensors, grad)
        return Tensor(rg, f"t{next(ids)}", graph, srcs=srcs, known=False)  # it may be a dict, a list

    def _module_call_method(self) -> bool:
        """``__call__`` overridden by a module class: what calling the module runs, as forward is."""
        info = self.info
        return info.name == "__call__" and info.cls is not None and self.model.is_module_class(info.cls)

    def forward_saved_op(self, cls_name: str) -> Optional[str]:
        """The class summary: the op that saved the output its forward returns (see ``forward_saved_op``)."""
        return forward_saved_op(self.model, self.table, cls_name, self.globals_env)

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
            return Grad.OFF if arg is None or is_true(arg) is True else Grad.UNKNOWN
        if qual in api.SET_GRAD_ENABLED:
            arg = call.args[0].value if call is not None and call.args else None
            flag = is_true(arg)
            return Grad.UNKNOWN if flag is None else (Grad.ON if flag else Grad.OFF)
        return None

    def _is_set_grad_enabled(self, call: cst.Call) -> bool:
        return (self.model.imports.qualname(call.func) or "") in api.SET_GRAD_ENABLED


def _saved_output_op(value: Optional[Value], state: State) -> Optional[str]:
    """The op that saved ``value`` itself as its output (``relu`` for ``self.relu(h)``), when it did."""
    if not isinstance(value, Tensor) or not value.versioned:
        return None
    for sid in value.graph:
        save = state.live.get(sid)
        if save is not None and save.kind == "output" and save.root == value.root:
            return save.op
    return None


_SUMMARIES: "weakref.WeakKeyDictionary[SemanticModel, dict[str, Optional[str]]]" = weakref.WeakKeyDictionary()


def forward_saved_op(model: SemanticModel, table: SavedTable, cls_name: str, globals_env: dict) -> Optional[str]:
    """A class summary: the op whose saved output a module of this file returns from every path of
    the method its call runs (``__call__`` when overridden, else ``forward``), or None.

    ``return self.relu(self.bn(self.conv(x)))`` gives ``relu``: relu's backward reads that output,
    so an in-place write into what the module returns breaks the backward through it. Paths that
    return different values (a ReLU on one branch only), tuples, or nothing give None (unknown)."""
    summaries = _SUMMARIES.setdefault(model, {})
    if cls_name in summaries:
        return summaries[cls_name]
    summaries[cls_name] = None  # a class reached again while summarised (recursion): unknown
    cls = model.classes.get(cls_name)
    methods = cls.methods if cls is not None else {}
    defs = methods.get("__call__") or methods.get("forward") or []
    method = defs[-1] if len(defs) == 1 else None  # one definition (not overloads or branches)
    if method is None or method.node is None or not isinstance(method.node.body, cst.IndentedBlock):
        return None
    runner = _Function(model, table, method, globals_env)
    state = _entry_state(model, method)
    runner.run(_body(method.node.body), state)
    ops = runner.returns
    if state.dead and ops and ops[0] is not None and all(op == ops[0] for op in ops):
        summaries[cls_name] = ops[0]
    return summaries[cls_name]


def _op_name(node: Optional[cst.BaseExpression]) -> Optional[str]:
    """``topk`` for ``x.topk(k)`` and ``torch.topk(x, k)``."""
    if isinstance(node, cst.Call):
        func = node.func
        if isinstance(func, cst.Attribute):
            return func.attr.value
        if isinstance(func, cst.Name):
            return func.value
    return None


def _body(block: cst.BaseSuite) -> list:
    if isinstance(block, cst.IndentedBlock):
        return list(block.body)
    if isinstance(block, cst.SimpleStatementSuite):
        return [cst.SimpleStatementLine(body=block.body)]
    return []


def _module_env(model: SemanticModel, table: SavedTable) -> tuple[dict, Optional[_Function], State]:
    """Module-level statements run first: their names are what functions see as globals."""
    module_func = next((f for f in model.funcs if f.node is None), None)
    state = State()
    if module_func is None:
        return {}, None, state
    runner = _Function(model, table, module_func, {})
    body = [s for s in model.module.body if not isinstance(s, (cst.FunctionDef, cst.ClassDef))]
    runner.run(body, state)
    return state.env, runner, state


def saved_hits(model: SemanticModel, table: Optional[SavedTable] = None) -> list[Hit]:
    """Every LL4 event in the file: a write to a saved tensor before the backward that needs it."""
    table = table or load_table()
    chained = chain_hits(model, table)
    # Only functions that write in place (the model's in-place sites) or step an optimizer can
    # hold an LL4 event; the others are not walked (a third of the cost on library code).
    writers = {id(site.ctx.func) for site in model.inplace}
    todo = [info for info in model.funcs if info.node is not None and isinstance(info.node.body, cst.IndentedBlock)
            and not (info.cls is not None and info.cls.is_autograd_function)
            and (id(info) in writers or _steps(info.node))]
    module_func = next((f for f in model.funcs if f.node is None), None)
    top = [stmt for stmt in model.module.body if not isinstance(stmt, (cst.FunctionDef, cst.ClassDef))]
    if not todo and (module_func is None or (id(module_func) not in writers and not any(_steps(t) for t in top))):
        return chained
    globals_env, module_runner, _ = _module_env(model, table)
    hits: list[Hit] = chained + (list(module_runner.found) if module_runner is not None else [])
    for info in todo:
        runner = _Function(model, table, info, globals_env)
        state = _entry_state(model, info)
        runner.run(_body(info.node.body), state)
        hits.extend(runner.found)
    seen: set = set()
    unique = []
    for hit in hits:
        key = (id(hit.write.node), id(hit.write.target))
        if key not in seen:
            seen.add(key)
            unique.append(hit)
    return unique


def _entry_state(model: SemanticModel, info: FuncInfo) -> State:
    """The state at a function's entry: its arguments, of unknown requires-grad unless annotated."""
    state = State()
    for param in list(info.node.params.params) + list(info.node.params.kwonly_params):
        name = param.name.value
        if name == info.self_name:
            continue
        kind = annotation_kind(model, param.annotation.annotation if param.annotation is not None else None)
        if kind == "parameter":
            state.env[name] = Tensor(True, f"arg:{name}", param=True)
        elif kind != "other":
            state.env[name] = Tensor(None, f"arg:{name}", srcs=frozenset({f"arg:{name}"}),
                                     known=kind == "tensor")
    return state


# Annotations that say an argument is not a tensor: containers, strings, numbers, callables.
NOT_TENSOR_ANNOTATIONS = frozenset({
    "dict", "Dict", "Mapping", "MutableMapping", "OrderedDict", "DefaultDict", "defaultdict", "TypedDict",
    "list", "List", "Sequence", "MutableSequence", "tuple", "Tuple", "set", "Set", "FrozenSet", "frozenset",
    "Iterable", "Iterator", "Collection", "str", "bytes", "int", "float", "bool", "complex", "Callable",
    "ModuleDict", "ModuleList", "ParameterDict", "ParameterList", "Module", "Namespace", "DictConfig",
})


def annotation_kind(model: SemanticModel, annotation: Optional[cst.BaseExpression]) -> Optional[str]:
    """``"parameter"``, ``"tensor"``, ``"other"`` (a container, a string, a number) or None (unknown)."""
    if annotation is None:
        return None
    if isinstance(annotation, cst.SimpleString):  # a string annotation: its last dotted word
        text = annotation.value.strip("'\"")
        head = text.split("[", 1)[0].strip()
        word = head.rsplit(".", 1)[-1]
        if word in ("Parameter",):
            return "parameter"
        if word == "Tensor":
            return "tensor"
        return "other" if word in NOT_TENSOR_ANNOTATIONS else None
    if isinstance(annotation, cst.Subscript):
        outer = dotted(annotation.value) or ""
        if outer.rsplit(".", 1)[-1] == "Optional" and len(annotation.slice) == 1 \
                and isinstance(annotation.slice[0].slice, cst.Index):
            return annotation_kind(model, annotation.slice[0].slice.value)
        annotation = annotation.value
    if isinstance(annotation, cst.BinaryOperation) and isinstance(annotation.operator, cst.BitOr):
        left, right = annotation_kind(model, annotation.left), annotation_kind(model, annotation.right)
        if isinstance(annotation.right, cst.Name) and annotation.right.value == "None":
            return left
        return left if left == right else None
    qual = model.imports.qualname(annotation) or ""
    if qual in api.PARAMETER:
        return "parameter"
    if qual in ("torch.Tensor", "torch.FloatTensor", "torch.LongTensor", "torch.tensor"):
        return "tensor"
    name = (dotted(annotation) or "").rsplit(".", 1)[-1]
    if name == "Tensor" and not qual:
        return "tensor"
    return "other" if name in NOT_TENSOR_ANNOTATIONS else None


def _steps(node: cst.CSTNode) -> bool:
    """Whether ``node`` calls ``<something>.step()`` (an optimizer step writes the parameters)."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, cst.Call) and isinstance(current.func, cst.Attribute) \
                and current.func.attr.value == "step":
            return True
        stack.extend(children(current))
    return False


_CACHE: "weakref.WeakKeyDictionary[SemanticModel, list[Hit]]" = weakref.WeakKeyDictionary()


def hits_for(model: SemanticModel) -> list[Hit]:
    """``saved_hits`` once per model, shared by the LL4 rules."""
    found = _CACHE.get(model)
    if found is None:
        found = saved_hits(model)
        _CACHE[model] = found
    return found

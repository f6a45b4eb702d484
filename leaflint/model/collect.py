"""One walk over a file that binds names to symbolic values and records the facts rules filter.

The walk keeps the grad-mode stack, records call sites, in-place sites, ``.data`` writes and
reads, and attribute assignments; expressions are read by ``Evaluator``.
"""

from __future__ import annotations

from typing import Optional

import libcst as cst

from leaflint.model import torchapi as api
from leaflint.model.calls import CallFacts
from leaflint.model.evaluate import Evaluator, literal_key
from leaflint.model.facts import (
    ArgCall, AttrAssign, CallRef, ClassInfo, Context, DataRead, DataWrite, FuncInfo, Grad, InplaceSite,
)
from leaflint.model.collect_flow import FlowMixin
from leaflint.model.flow import common_return, fallback_handlers, is_container
from leaflint.model.hooks import HookFacts
from leaflint.model.imports import ImportTable, dotted
from leaflint.model.judge import is_backward_call
from leaflint.model.roots import graph_events, graph_roots
from leaflint.model.project import ProjectView
from leaflint.model.requires_grad import RequiresGradFacts
from leaflint.model.syntax import AUG_INPLACE, argument_for, is_true, kwarg, names_in, parameters_slot, positional
from leaflint.model.values import (
    Arg, Attr, DataOf, DictOf, Fresh, FrozenParameter, ModuleInstance, ParamItem, ParamIter, SelfRef, TensorList, Value,
    View,
)



def first_arg(call: cst.Call) -> Optional[cst.BaseExpression]:
    return call.args[0].value if len(call.args) == 1 and call.args[0].keyword is None and not call.args[0].star \
        else None


def _names_bound(target: cst.BaseExpression) -> list[str]:
    if isinstance(target, cst.Name):
        return [target.value]
    if isinstance(target, (cst.Tuple, cst.List)):
        return [name for element in target.elements for name in _names_bound(element.value)]
    return []


class Collector(FlowMixin, CallFacts, RequiresGradFacts, HookFacts, Evaluator, cst.CSTVisitor):
    def __init__(self, imports_prepass: ImportTable, classes: dict[str, ClassInfo],
                 project: Optional[ProjectView] = None,
                 known_returns: Optional[dict[str, Optional[Value]]] = None) -> None:
        super().__init__()
        self.imports = imports_prepass
        self.classes = classes
        self.project = project
        self.known_returns = known_returns  # module-level functions' return summaries, from a first walk
        self.late_calls: set[str] = set()  # names called before any function of that name was read
        self.module_func = FuncInfo(name="<module>", node=None, cls=None, parent=None,
                                    decorator_grad=Grad.ON)
        self.funcs: list[FuncInfo] = [self.module_func]
        self.all_funcs: list[FuncInfo] = []
        self.module_functions: dict[str, list[FuncInfo]] = {}
        self.envs: list[dict[str, Optional[Value]]] = [{}]
        self.roots_env: list[dict[str, frozenset[str]]] = [{}]
        self.grad: list[Grad] = [Grad.ON]
        self.class_stack: list[ClassInfo] = []
        self.stmt_stack: list[cst.CSTNode] = []
        self.guards: list[cst.BaseExpression] = []
        self.narrowed: list[dict[str, Value]] = []
        self.frozen_paths: list[set[str]] = [set()]
        self.parents: list[cst.CSTNode] = []
        self.seq = 0
        self.stmt_id = 0
        self.inplace: list[InplaceSite] = []
        self.data_writes: list[DataWrite] = []
        self.data_reads: list[DataRead] = []
        self.attr_assigns: list[AttrAssign] = []
        self.calls: list[CallRef] = []
        self.arg_calls: list[ArgCall] = []
        self.deleted: set[tuple[Value, str]] = set()
        self.branch_frozen: list[set[str]] = []
        self.branches: list[tuple[cst.If, bool]] = []  # the enclosing branches: (if, in its body)
        self.branch_base: list[int] = [0]  # len(branches) where each function begins
        self.ifs: list[cst.If] = []
        self.handled: list[frozenset[str]] = []
        # flow: early exits (``if test: return``) hold ``not test`` for the rest of their block;
        # a block remembers how many exits and branch facts it started with
        self.exit_ifs: list[cst.If] = []
        self.stmt_ifs: dict[int, tuple[cst.If, ...]] = {}  # statement number -> the ifs around it
        self.stmt_nodes: dict[int, cst.CSTNode] = {}  # statement number -> statement (inside an if)
        self.block_marks: list[tuple[int, int]] = []
        # the environments at an ``if``: before it, and after its body (with whether it exits)
        self.if_envs: list[tuple[dict, Optional[tuple[dict, bool]]]] = []

    # ----------------------------------------------------------------- plumbing
    # The collector is driven by `walk` (leaflint/model/walk.py), which keeps `parents`: the
    # node is on it during visit_<Type> and off it during leave_<Type>.
    def _parent(self, depth: int = 1) -> Optional[cst.CSTNode]:
        # parents[-1] is the node itself while visiting it.
        index = -1 - depth
        return self.parents[index] if len(self.parents) >= -index else None

    @property
    def func(self) -> FuncInfo:
        return self.funcs[-1]

    def ctx(self) -> Context:
        return Context(self.func, self.grad[-1], self.stmt_stack[-1] if self.stmt_stack else None,
                       tuple(self.guards), tuple(self.ifs), frozenset().union(*self.handled), self.stmt_id,
                       tuple(self.exit_ifs))

    def _event(self, kind: str, payload) -> int:
        self.seq += 1
        self.func.events.append((self.seq, self.stmt_id, kind, payload))
        return self.seq

    def lookup(self, name: str) -> Optional[Value]:
        for narrowing in reversed(self.narrowed):
            if name in narrowing:
                return narrowing[name]
        for env in reversed(self.envs):
            if name in env:
                return env[name]
        return None

    def bind(self, name: str, value: Optional[Value]) -> None:
        self.envs[-1][name] = value
        self.roots_env[-1].pop(name, None)

    def roots_of(self, name: str) -> Optional[frozenset[str]]:
        """What the value bound to ``name`` in this function carries a graph from (``roots``)."""
        return self.roots_env[-1].get(name)

    def qualname(self, node: cst.BaseExpression) -> Optional[str]:
        return self.imports.qualname(node)

    # ----------------------------------------------------------------- scopes
    def visit_Module(self, node: cst.Module) -> None:
        self.all_funcs.append(self.module_func)

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        info = self.classes.get(node.name.value)
        if info is None or info.node is not node:
            info = ClassInfo(node.name.value, node, [])
        self.class_stack.append(info)

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self.class_stack.pop()

    def _decorator_grad(self, node: cst.FunctionDef) -> Grad:
        state = Grad.INHERIT
        for decorator in node.decorators:
            expr = decorator.decorator
            call = expr if isinstance(expr, cst.Call) else None
            target = call.func if call is not None else expr
            qual = self.qualname(target) or ""
            last = (dotted(target) or "").rsplit(".", 1)[-1]
            effect = self._grad_effect(qual, call)
            if effect is None and last in api.NO_GRAD_DECORATOR_NAMES:
                effect = Grad.OFF
            if effect is not None:
                state = effect
        return state

    def _grad_effect(self, qual: str, call: Optional[cst.Call]) -> Optional[Grad]:
        if qual in api.NO_GRAD:
            return Grad.OFF
        if qual in api.ENABLE_GRAD:
            return Grad.ON
        if qual in api.INFERENCE_MODE:
            arg = (positional(call, 0) or getattr(kwarg(call, "mode"), "value", None)) if call else None
            if arg is None or is_true(arg) is True:
                return Grad.OFF
            return None if is_true(arg) is False else Grad.UNKNOWN
        if qual in api.SET_GRAD_ENABLED:
            arg = (positional(call, 0) or getattr(kwarg(call, "mode"), "value", None)) if call else None
            flag = is_true(arg)
            return Grad.UNKNOWN if flag is None else (Grad.ON if flag else Grad.OFF)
        return None

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        cls = self.class_stack[-1] if self.class_stack and self._directly_in_class(node) else None
        parent = self.func if self.func is not self.module_func else None
        info = FuncInfo(name=node.name.value, node=node, cls=cls, parent=parent,
                        decorator_grad=self._decorator_grad(node))
        if cls is not None and cls.is_autograd_function and info.name in (
                "forward", "backward", "jvp", "vjp", "setup_context"):
            info.decorator_grad = Grad.OFF
        env: dict[str, Optional[Value]] = {}
        params = list(node.params.posonly_params) + list(node.params.params)
        static = any(dotted(d.decorator) in ("staticmethod", "classmethod") for d in node.decorators)
        if cls is not None and params and not static:
            info.self_name = params[0].name.value
        info.classmethod = cls is not None and bool(params) and any(
            dotted(d.decorator) == "classmethod" for d in node.decorators)
        for param in params + list(node.params.kwonly_params):
            info.params.append(param.name.value)
            value: Optional[Value] = Arg(param.name.value)
            if param.annotation is not None:
                ann = param.annotation.annotation
                if isinstance(ann, cst.SimpleString):
                    ann = None
                if ann is not None:
                    value = self._annotation_value(ann)
            env[param.name.value] = value
        if isinstance(node.params.star_arg, cst.Param):
            info.star = node.params.star_arg.name.value
            env[info.star] = Arg(info.star)  # ``*args``: the tuple of the extra positional arguments
        if isinstance(node.params.star_kwarg, cst.Param):
            env[node.params.star_kwarg.name.value] = None
        if info.self_name is not None and cls is not None:
            env[info.self_name] = SelfRef(cls.name)
        # register the function where calls will look for it
        if cls is not None:
            cls.methods.setdefault(info.name, []).append(info)
        elif parent is not None:
            parent.nested.setdefault(info.name, []).append(info)
        elif not self.class_stack:
            self.module_functions.setdefault(info.name, []).append(info)
        self.funcs.append(info)
        self.all_funcs.append(info)
        self.frozen_paths.append(set())
        self.branch_base.append(len(self.branches))
        self.envs.append(env)
        self.roots_env.append({})
        self.grad.append(info.decorator_grad)
        self.bind_outer(info.name)

    def _annotation_value(self, ann: cst.BaseExpression) -> Optional[Value]:
        """``p: nn.Parameter`` is a leaf; ``m: nn.Linear`` / ``m: LocalModule`` is a module."""
        qual = self.qualname(ann)
        if qual in api.PARAMETER:
            return ParamItem(None)
        return self._class_instance(ann)

    def visit_Try_body(self, node: cst.Try) -> None:
        self.handled.append(fallback_handlers(node))

    def leave_Try_body(self, node: cst.Try) -> None:
        self.handled.pop()

    def visit_Return(self, node: cst.Return) -> None:
        self.func.returns.append(self.value_of(node.value) if node.value is not None else None)

    def visit_Yield(self, node: cst.Yield) -> None:
        self.func.returns.append(None)  # a generator: its calls return no tensor

    def bind_outer(self, name: str) -> None:
        # the def statement binds its name in the enclosing scope
        if len(self.envs) >= 2:
            self.envs[-2][name] = None

    def _directly_in_class(self, node: cst.FunctionDef) -> bool:
        # parents[-1] is the FunctionDef; its parent is an IndentedBlock whose parent is the class
        return len(self.parents) >= 3 and isinstance(self.parents[-3], cst.ClassDef)

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self.frozen_paths.pop()
        self.branch_base.pop()
        self.funcs.pop()
        self.envs.pop()
        self.roots_env.pop()
        self.grad.pop()

    def visit_Lambda(self, node: cst.Lambda) -> None:
        env = {p.name.value: None for p in node.params.params}
        self.envs.append(env)

    def leave_Lambda(self, original_node: cst.Lambda) -> None:
        self.envs.pop()

    def visit_With(self, node: cst.With) -> None:
        state: Optional[Grad] = None
        for item in node.items:
            effect = self._with_item_grad(item.item)
            if effect is not None:
                state = effect
        self.grad.append(state if state is not None else self.grad[-1])

    def leave_With(self, original_node: cst.With) -> None:
        self.grad.pop()

    def _with_item_grad(self, expr: cst.BaseExpression) -> Optional[Grad]:
        if isinstance(expr, cst.Call):
            effect = self._grad_effect(self.qualname(expr.func) or "", expr)
            if effect is not None:
                return effect
        words = [w.lower() for w in names_in(expr)]
        if any("grad" in w or "inference" in w for w in words):
            return Grad.UNKNOWN
        return None

    # ----------------------------------------------------------------- statements
    def _enter_stmt(self, node: cst.CSTNode) -> None:
        self.stmt_stack.append(node)
        self.stmt_id += 1
        if self.ifs:
            self.stmt_ifs[self.stmt_id] = tuple(self.ifs)
            self.stmt_nodes[self.stmt_id] = node

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        self._enter_stmt(node)

    def leave_SimpleStatementLine(self, original_node: cst.SimpleStatementLine) -> None:
        self.stmt_stack.pop()

    def visit_For(self, node: cst.For) -> None:
        self._enter_stmt(node)
        self._bind_target(node.target, self._iter_items(node.iter))

    def leave_For(self, original_node: cst.For) -> None:
        self.stmt_stack.pop()

    def visit_CompFor(self, node: cst.CompFor) -> None:
        self._bind_target(node.target, self._iter_items(node.iter))

    def leave_Assign(self, original_node: cst.Assign) -> None:
        node = original_node
        value = self.value_of(node.value)
        roots = graph_roots(self, node.value) if self.grad[-1] is not Grad.OFF else frozenset()
        for target in node.targets:
            self._assign_target(node, target.target, node.value, value)
        if len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Name):
            self.roots_env[-1][node.targets[0].target.value] = roots  # read before the name was rebound
        for kind, payload in graph_events(self, node, [n for t in node.targets for n in _names_bound(t.target)]) \
                if self.grad[-1] is not Grad.OFF else ():
            self._event(kind, payload)

    def leave_AnnAssign(self, original_node: cst.AnnAssign) -> None:
        if original_node.value is not None:
            value = self.value_of(original_node.value)
            self._assign_target(original_node, original_node.target, original_node.value, value)

    def _assign_target(self, stmt: cst.CSTNode, target: cst.BaseExpression,
                       value_node: cst.BaseExpression, value: Optional[Value]) -> None:
        if isinstance(target, (cst.Name, cst.Tuple, cst.List)):
            self._bind_target(target, value)
            return
        if isinstance(target, cst.Attribute):
            if target.attr.value == "data":
                self._data_write("assign", stmt, target.value, value_node)
                return
            if target.attr.value == "requires_grad":
                self._set_requires_grad(target.value, is_true(value_node))
                return
            owner = self.value_of(target.value)
            self._record_attr_assign(stmt, owner, target.value, target.attr.value, value, value_node)
            return
        if isinstance(target, cst.Subscript):
            slot = parameters_slot(target)
            if slot is not None:  # ``m._parameters[name] = v``: registers ``v`` as m's parameter, unchecked
                self._record_attr_assign(stmt, self.value_of(slot[0]), slot[0], slot[1], value, value_node)
                return
            base = self.value_of(target.value)
            if isinstance(base, DataOf):
                self._data_write("setitem", stmt, target.value.value if isinstance(target.value, cst.Attribute) else target.value, value_node, through=base)
            else:
                self.inplace.append(InplaceSite("setitem", stmt, base, target.value, "[...] =", self.ctx()))
                if isinstance(base, DictOf) and isinstance(target.value, cst.Name):
                    # ``d["alpha"] = nn.Parameter(..)``: the dict built here now holds it
                    key = literal_key(target)
                    self.bind(target.value.value, DictOf(base.entries + ((key if isinstance(key, str) else None, value),)))

    def _record_attr_assign(self, stmt: cst.CSTNode, owner: Optional[Value], owner_node: cst.CSTNode,
                            attr: str, value: Optional[Value], value_node: cst.CSTNode,
                            name_value: Optional[Value] = None) -> None:
        if isinstance(owner, SelfRef) and self.func.cls is not None and owner.cls == self.func.cls.name:
            self._class_fact(self.func.cls, attr, value_node)
        self.attr_assigns.append(AttrAssign(stmt, owner, owner_node, attr, value, value_node, self.ctx(), name_value))

    def _is_parameter_call(self, node: cst.BaseExpression) -> bool:
        if not isinstance(node, cst.Call):
            return False
        qual = self.qualname(node.func)
        if qual in api.PARAMETER:
            return True
        cls = self.classes.get(node.func.value) if isinstance(node.func, cst.Name) else None
        if cls is None and self.project is not None:
            cls = self.classes.get(self.project.class_id(qual))
        return cls is not None and cls.is_parameter_class

    def _class_fact(self, cls: ClassInfo, attr: str, value_node: cst.BaseExpression) -> None:
        branches = [value_node.body, value_node.orelse] if isinstance(value_node, cst.IfExp) else [value_node]
        for branch in branches:
            value = self.value_of(branch)
            if is_container(branch):
                cls.containers.add(attr)
            elif isinstance(value, Fresh) and self._is_parameter_call(branch):
                cls.params[attr] = True
                if value.when is not None:  # ``requires_grad=flag``: requires grad when it is true
                    cls.frozen_when.setdefault(attr, value.when)
            elif isinstance(value, FrozenParameter) or (self._is_parameter_call(branch) and value is None):
                cls.params[attr] = False if isinstance(value, FrozenParameter) else None
            elif isinstance(branch, cst.Call) and self.qualname(branch.func) in api.PARAMETER:
                rg = kwarg(branch, "requires_grad")
                flag = rg.value if rg is not None else positional(branch, 1)
                cls.params[attr] = is_true(flag) if flag is not None else None
            elif isinstance(branch, cst.Call) and self.qualname(branch.func) in api.BUFFER:
                cls.buffers.add(attr)
            elif isinstance(value, ModuleInstance):
                cls.submodules[attr] = value

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        if type(node.operator).__name__ not in AUG_INPLACE:
            return
        target = node.target
        if isinstance(target, cst.Subscript):
            base = self.value_of(target.value)
            if isinstance(base, DataOf):
                self._data_write("augassign", node, target.value.value if isinstance(target.value, cst.Attribute) else target.value, node.value, through=base)
                return
            value = View(base) if base is not None else None
        else:
            value = self.value_of(target)
            if isinstance(value, DataOf):
                inner = target.value if isinstance(target, cst.Attribute) and target.attr.value == "data" else target
                self._data_write("augassign", node, inner, node.value, through=value)
                return
        op = cst.Module([]).code_for_node(node.operator).strip()
        self.inplace.append(InplaceSite("augassign", node, value, target, op, self.ctx()))

    def visit_Del(self, node: cst.Del) -> None:
        # ``del m._parameters["w"]`` / ``del m.w``: the slot is no longer a Parameter
        target = node.target
        if isinstance(target, cst.Subscript) and isinstance(target.value, cst.Attribute) \
                and target.value.attr.value == "_parameters":
            index = target.slice[0].slice
            name = "*"
            if isinstance(index, cst.Index) and isinstance(index.value, cst.SimpleString):
                name = index.value.value.strip("'\"")
            self._delete_parameter(target.value.value, name)
        elif isinstance(target, cst.Attribute):
            self._delete_parameter(target.value, target.attr.value)

    def _delete_parameter(self, owner_node: cst.BaseExpression, name: str) -> None:
        owner = self.value_of(owner_node)
        if owner is None:
            return
        self.deleted.add((owner, name))
        if isinstance(owner, SelfRef) and owner.cls in self.classes:
            self.classes[owner.cls].deleted_params.add(name)

    # ----------------------------------------------------------------- expressions
    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        ctx = self.ctx()
        qual = self.qualname(func)
        # statement-level torch.set_grad_enabled(flag)
        if qual in api.SET_GRAD_ENABLED and isinstance(self._parent(), cst.Expr):
            effect = self._grad_effect(qual, node)
            if effect is not None:
                self.grad[-1] = effect
        self._record_call_refs(node, ctx)
        self._record_uses(node, ctx)
        self._hook_summary_call(node)
        if is_backward_call(node, qual):
            self._event("backward", None)
        if isinstance(func, cst.Attribute):
            method = func.attr.value
            if method.endswith("_") and not method.startswith("_") and method not in api.NOT_INPLACE_METHODS \
                    and qual is None:
                receiver = self.value_of(func.value)
                if isinstance(receiver, DataOf):
                    self._data_write("inplace", node, func.value.value if isinstance(func.value, cst.Attribute) and func.value.attr.value == "data" else func.value, None, through=receiver, detail=method)
                else:
                    self.inplace.append(InplaceSite("method", node, receiver, func.value, method, ctx))
            elif method == "detach_" and not node.args:
                self._set_requires_grad(func.value, False)  # detach_() on a leaf clears requires_grad
            elif method == "requires_grad_":
                flag = positional(node, 0) or getattr(kwarg(node, "requires_grad"), "value", None)
                self._set_requires_grad(func.value, True if flag is None else is_true(flag))
            elif method == "register_forward_hook":
                self._forward_hook(node)
            elif method in ("append", "extend") and isinstance(func.value, cst.Name) and first_arg(node) is not None \
                    and isinstance(self.lookup(func.value.value), TensorList):
                # ``params.append(p)``: the list built here now holds it
                held = self.lookup(func.value.value)
                added = self.value_of(first_arg(node))
                more = (added,) if method == "append" else added.items if isinstance(added, TensorList) \
                    else (ParamItem(added.base),) if isinstance(added, ParamIter) and not added.named else (None,)
                self.bind(func.value.value, TensorList(held.items + more))  # type: ignore[union-attr]
            elif method == "register_buffer" and self._is_self(func.value):
                name = positional(node, 0)
                if isinstance(name, cst.SimpleString) and self.func.cls is not None:
                    self.func.cls.buffers.add(name.value.strip("'\""))
            elif method == "register_parameter":
                name = positional(node, 0)
                value_node = positional(node, 1)
                if isinstance(name, cst.SimpleString) and value_node is not None:
                    owner = self.value_of(func.value)
                    self._record_attr_assign(node, owner, func.value, name.value.strip("'\""),
                                             self.value_of(value_node), value_node)
        elif isinstance(func, cst.Name) and func.value == "setattr" and len(node.args) == 3 \
                and self.lookup("setattr") is None:
            owner_node, name_node, value_node = (a.value for a in node.args)
            attr = name_node.value.strip("'\"") if isinstance(name_node, cst.SimpleString) else "<name>"
            owner = self.value_of(owner_node)
            self._record_attr_assign(node, owner, owner_node, attr, self.value_of(value_node), value_node,
                                     self.value_of(name_node) if attr == "<name>" else None)
        # out=
        out = kwarg(node, "out")
        if out is not None and qual is not None and qual.startswith("torch."):
            target = self.value_of(out.value)
            if isinstance(target, DataOf):
                self._data_write("inplace", node, out.value.value if isinstance(out.value, cst.Attribute) else out.value, None, through=target, detail="out=")
            else:
                self.inplace.append(InplaceSite("out", node, target, out.value, qual.rsplit(".", 1)[-1], ctx))
        # inplace functionals
        first = positional(node, 0)
        inplace_kw = kwarg(node, "inplace")
        if first is not None and inplace_kw is not None and is_true(inplace_kw.value) and qual \
                and qual.startswith("torch."):
            self.inplace.append(InplaceSite("inplace_fn", node, self.value_of(first), first,
                                            f"{qual.rsplit('.', 1)[-1]}(..., inplace=True)", ctx))
        elif first is not None and qual and qual.endswith("_") and qual.count(".") >= 1 \
                and not qual.startswith(api.NOT_INPLACE_FUNCTION_PREFIXES) \
                and qual not in api.NOT_INPLACE_FUNCTIONS and not qual.startswith("torch._foreach_") \
                and (qual.count(".") == 1 or qual.startswith("torch.nn.functional.")) and qual.startswith("torch."):
            self.inplace.append(InplaceSite("inplace_fn", node, self.value_of(first), first,
                                            qual.rsplit(".", 1)[-1], ctx))
        elif first is not None and qual and qual.startswith("torch._foreach_") and qual.endswith("_"):
            self.inplace.append(InplaceSite("foreach", node, self.value_of(first), first,
                                            qual.rsplit(".", 1)[-1], ctx))
        elif first is not None:
            callee = self.value_of(func) if not isinstance(func, cst.Call) else self._call_value(func)
            if isinstance(callee, ModuleInstance) and callee.inplace:
                self.inplace.append(InplaceSite("inplace_fn", node, self.value_of(first), first,
                                                f"{callee.kind[1]}(inplace=True)", ctx))
            elif isinstance(callee, Attr) and isinstance(callee.base, SelfRef):
                cls = self.classes.get(callee.base.cls)
                sub = cls.submodules.get(callee.name) if cls else None
                if sub is not None and sub.inplace:
                    self.inplace.append(InplaceSite("inplace_fn", node, self.value_of(first), first,
                                                    f"{sub.kind[1]}(inplace=True)", ctx))

    def _is_self(self, node: cst.BaseExpression) -> bool:
        return isinstance(node, cst.Name) and node.value == self.func.self_name

    def _record_uses(self, node: cst.Call, ctx: Context) -> None:
        if ctx.grad is Grad.OFF:
            return
        qual = self.qualname(node.func)
        if qual in api.INSPECTING_FUNCTIONS or qual in api.COPYING_FUNCTIONS \
                or (isinstance(node.func, cst.Name) and node.func.value in api.INSPECTING_FUNCTIONS):
            return
        exprs = [a.value for a in node.args]
        if qual is None and not (isinstance(node.func, cst.Attribute)
                                 and node.func.attr.value in api.MODULE_BOOKKEEPING_METHODS):
            exprs.append(node.func)  # ``self.lin(x)`` uses self.lin; ``w.mul(x)`` uses w (a prefix)
        for expr in exprs:
            path = dotted(expr)
            if path is not None and ".data" not in f"{path}.":
                self._event("use", path)

    def visit_BinaryOperation(self, node: cst.BinaryOperation) -> None:
        if self.grad[-1] is Grad.OFF:
            return
        for operand in (node.left, node.right):
            path = dotted(operand)
            if path is not None:
                self._event("use", path)

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if node.attr.value != "data":
            return
        parent = self._parent()
        if isinstance(parent, cst.Attribute) and parent.value is node:
            attr = parent.attr.value
            if attr in api.METADATA_ATTRIBUTES or attr.endswith("_") or attr == "data":
                return
        if isinstance(parent, (cst.AssignTarget, cst.AugAssign, cst.Del)):
            return
        if isinstance(parent, cst.Subscript):
            grand = self._parent(2)
            if isinstance(grand, (cst.AssignTarget, cst.AugAssign)):
                return
        if isinstance(parent, cst.Arg):
            call = self._parent(2)
            if isinstance(call, cst.Call):
                qual = self.qualname(call.func) or dotted(call.func) or ""
                if qual in api.INSPECTING_FUNCTIONS or (parent.keyword is not None and parent.keyword.value == "out"):
                    return
        if isinstance(parent, cst.Comparison) or isinstance(parent, cst.ComparisonTarget):
            return
        # recorded even when the value is unknown: what it feeds (a forward's output) may decide
        self.data_reads.append(DataRead(node, self.value_of(node.value), self.ctx()))

    # ----------------------------------------------------------------- .data writes
    def _data_write(self, kind: str, node: cst.CSTNode, inner: cst.BaseExpression,
                    value_node: Optional[cst.BaseExpression], through: Optional[DataOf] = None,
                    detail: str = "") -> None:
        if through is not None:
            target, path = through.base, through.path
        else:
            target, path = self.value_of(inner), dotted(inner)
        if isinstance(target, ParamItem) and path is not None and "." not in path:
            path = self._parameters_owner(path) or path
        rhs: list[tuple[Value, cst.CSTNode]] = []
        if value_node is not None:
            rhs = list(self.graph_sources(value_node))
        if value_node is None and isinstance(node, cst.Call):
            rhs = list(self.graph_sources(node))
        seq = self._event("data_write", None)
        self.data_writes.append(DataWrite(kind, node, target, inner, path, rhs, value_node, seq,
                                          self.stmt_id, self.ctx(), detail, graph_roots(self, inner),
                                          graph_roots(self, value_node, given=False) if value_node is not None else frozenset()))

    def _parameters_owner(self, name: str) -> Optional[str]:
        """``D`` for the loop variable ``p`` of an enclosing ``for p in D.parameters():`` (or
        ``named_parameters()``): a write through ``p`` writes one of ``D``'s parameters, so it
        relates to every use of ``D`` (``D(x)``, ``D.weight``)."""
        for stmt in reversed(self.stmt_stack):
            if not isinstance(stmt, cst.For) or name not in names_in(stmt.target):
                continue
            iterable = stmt.iter
            if isinstance(iterable, cst.Call) and isinstance(iterable.func, cst.Attribute) \
                    and iterable.func.attr.value in ("parameters", "named_parameters"):
                return dotted(iterable.func.value)
            return None
        return None

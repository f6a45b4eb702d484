"""One walk over a file that records what the rules need, then the resolution of it.

The walk (``_Collector``) binds names to symbolic values, keeps the grad-mode stack,
records call sites and the facts rules filter: in-place sites, ``.data`` writes and
reads, attribute assignments. ``SemanticModel`` then resolves what a single pass cannot
know in order: class parameters declared later in the file, the grad mode a helper
inherits from its callers, whether a function only runs inside ``forward``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Optional

import libcst as cst

from leaflint.model import torchapi as api
from leaflint.model.imports import ImportTable, dotted
from leaflint.model.values import (
    Attr, DataOf, Fresh, FrozenParameter, GroupItem, GroupList, ModuleInstance, ParamItem, ParamIter,
    PlainTensor, SelfRef, TensorList, Value, View,
)
from leaflint.model.walk import walk


class Grad(enum.Enum):
    ON = "on"
    OFF = "off"
    UNKNOWN = "unknown"
    INHERIT = "inherit"  # whatever the enclosing function was entered with


@dataclass
class ClassInfo:
    name: str
    node: cst.ClassDef
    bases: list[str]
    params: dict[str, Optional[bool]] = field(default_factory=dict)  # attr -> requires_grad
    buffers: set[str] = field(default_factory=set)
    submodules: dict[str, ModuleInstance] = field(default_factory=dict)
    frozen: set[str] = field(default_factory=set)  # dotted paths below self
    frozen_all: bool = False
    deleted_params: set[str] = field(default_factory=set)
    methods: dict[str, list["FuncInfo"]] = field(default_factory=dict)
    is_autograd_function: bool = False
    has_forward: bool = False


@dataclass
class FuncInfo:
    name: str
    node: Optional[cst.FunctionDef]
    cls: Optional[ClassInfo]
    parent: Optional["FuncInfo"]
    decorator_grad: Grad = Grad.INHERIT
    self_name: Optional[str] = None
    nested: dict[str, list["FuncInfo"]] = field(default_factory=dict)
    events: list[tuple] = field(default_factory=list)  # (seq, stmt_id, kind, payload)
    entry_grad: Grad = Grad.ON
    in_forward: bool = False


@dataclass
class Context:
    """Where a fact was seen: the function, the lexical grad mode, the statement."""

    func: FuncInfo
    grad: Grad
    stmt: Optional[cst.CSTNode]
    guards: tuple[cst.BaseExpression, ...] = ()


@dataclass
class InplaceSite:
    kind: str  # method | augassign | setitem | out | inplace_fn | foreach
    node: cst.CSTNode
    target: Optional[Value]
    target_node: cst.CSTNode
    detail: str
    ctx: Context


@dataclass
class DataWrite:
    kind: str  # assign | inplace | setitem | augassign
    node: cst.CSTNode
    target: Optional[Value]
    target_node: Optional[cst.CSTNode]
    path: Optional[str]
    rhs: list[tuple[Value, cst.CSTNode]]
    value_node: Optional[cst.BaseExpression]
    seq: int
    stmt_id: int
    ctx: Context
    detail: str = ""  # the in-place method, for writes through .data


@dataclass
class DataRead:
    node: cst.Attribute
    target: Value
    ctx: Context


@dataclass
class AttrAssign:
    node: cst.CSTNode
    owner: Optional[Value]
    owner_node: cst.CSTNode
    attr: str
    value: Optional[Value]
    value_node: cst.CSTNode
    ctx: Context


@dataclass
class CallRef:
    key: tuple
    scope: tuple["FuncInfo", ...]
    ctx: Context


@dataclass(frozen=True)
class Leaf:
    """A tensor that is (a view of) a leaf requiring grad."""

    view: bool
    kind: str  # parameter | tensor


_AUG_INPLACE = {
    "AddAssign", "SubtractAssign", "MultiplyAssign", "DivideAssign", "FloorDivideAssign",
    "PowerAssign", "ModuloAssign", "BitAndAssign", "BitOrAssign", "BitXorAssign",
    "LeftShiftAssign", "RightShiftAssign",
}
_BACKWARD_FUNCS = {"torch.autograd.backward", "torch.autograd.grad"}
_STOP_GRAPH_METHODS = {"detach", "item", "tolist", "numpy", "cpu", "data_ptr", "size", "dim",
                       "numel", "clone"}


def _is_true(node: Optional[cst.BaseExpression]) -> Optional[bool]:
    if isinstance(node, cst.Name) and node.value in ("True", "False"):
        return node.value == "True"
    return None


def _kwarg(call: cst.Call, name: str) -> Optional[cst.Arg]:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == name:
            return arg
    return None


def _positional(call: cst.Call, index: int) -> Optional[cst.BaseExpression]:
    i = 0
    for arg in call.args:
        if arg.keyword is None and not arg.star:
            if i == index:
                return arg.value
            i += 1
    return None


def _names_in(node: cst.CSTNode) -> Iterator[str]:
    """Identifier-ish words in an expression (names and attribute names), shallowly."""
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, cst.Name):
            yield n.value
        elif isinstance(n, cst.Attribute):
            yield n.attr.value
            stack.append(n.value)
        elif isinstance(n, cst.Call):
            stack.append(n.func)
            stack.extend(a.value for a in n.args)
        elif isinstance(n, (cst.UnaryOperation,)):
            stack.append(n.expression)
        elif isinstance(n, cst.BooleanOperation):
            stack.extend((n.left, n.right))
        elif isinstance(n, cst.Comparison):
            stack.append(n.left)
            stack.extend(c.comparator for c in n.comparisons)
        elif isinstance(n, cst.IfExp):
            stack.extend((n.test, n.body, n.orelse))
        elif isinstance(n, cst.Subscript):
            stack.append(n.value)
        elif isinstance(n, cst.SimpleString):
            yield n.value.strip("'\"")


def _view_index(node: cst.Subscript) -> bool:
    """True when indexing returns a view (basic indexing): ints, slices, None, Ellipsis."""
    for element in node.slice:
        sl = element.slice
        if isinstance(sl, cst.Slice):
            continue
        value = sl.value
        if isinstance(value, cst.Integer) or (isinstance(value, cst.Name) and value.value == "None"):
            continue
        if isinstance(value, cst.Ellipsis):
            continue
        # a name or attribute index (``w[self.padding_idx]``) is an int in practice
        if isinstance(value, (cst.Name, cst.Attribute)):
            continue
        if isinstance(value, cst.UnaryOperation) and isinstance(value.expression, cst.Integer):
            continue
        return False
    return True


class _Collector(cst.CSTVisitor):
    def __init__(self, imports_prepass: ImportTable, classes: dict[str, ClassInfo]) -> None:
        super().__init__()
        self.imports = imports_prepass
        self.classes = classes
        self.module_func = FuncInfo(name="<module>", node=None, cls=None, parent=None,
                                    decorator_grad=Grad.ON)
        self.funcs: list[FuncInfo] = [self.module_func]
        self.all_funcs: list[FuncInfo] = []
        self.module_functions: dict[str, list[FuncInfo]] = {}
        self.envs: list[dict[str, Optional[Value]]] = [{}]
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
        self.deleted: set[tuple[Value, str]] = set()

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
                       tuple(self.guards))

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

    def qualname(self, node: cst.BaseExpression) -> Optional[str]:
        return self.imports.qualname(node)

    # ----------------------------------------------------------------- values
    def value_of(self, node: cst.BaseExpression) -> Optional[Value]:
        if self.frozen_paths[-1] and isinstance(node, (cst.Name, cst.Attribute)) \
                and dotted(node) in self.frozen_paths[-1]:
            return None  # requires_grad was switched off on this path earlier in the function
        if isinstance(node, cst.Name):
            return self.lookup(node.value)
        if isinstance(node, cst.Attribute):
            attr = node.attr.value
            if attr == "data":
                return DataOf(self.value_of(node.value), dotted(node.value))
            base = self.value_of(node.value)
            if attr in ("grad", "weight_norm"):
                return None
            if attr == "param_groups":
                return GroupList()
            if base is None:
                return None
            if isinstance(base, DataOf):
                return DataOf(base.base, base.path) if attr in api.VIEW_ATTRIBUTES else None
            if attr in api.VIEW_ATTRIBUTES:
                return View(base)
            if isinstance(base, (SelfRef, Attr, ModuleInstance)):
                return Attr(base, attr)
            return None
        if isinstance(node, cst.Subscript):
            base = self.value_of(node.value)
            if base is None:
                return None
            if isinstance(base, GroupItem):
                index = node.slice[0].slice
                if isinstance(index, cst.Index) and isinstance(index.value, cst.SimpleString) \
                        and index.value.value.strip("'\"") == "params":
                    return ParamIter(None)
                return None
            if isinstance(base, GroupList):
                return GroupItem()
            if isinstance(base, ParamIter) and not base.named:
                return ParamItem(base.base)
            if isinstance(base, TensorList):
                return None
            if isinstance(base, DataOf):
                return base if _view_index(node) else PlainTensor()
            if _view_index(node):
                return View(base)
            return PlainTensor()
        if isinstance(node, cst.Call):
            return self._call_value(node)
        if isinstance(node, (cst.BinaryOperation, cst.UnaryOperation)):
            operands = [node.left, node.right] if isinstance(node, cst.BinaryOperation) else [node.expression]
            for operand in operands:
                if self.value_of(operand) is not None:
                    return PlainTensor()
            return None
        if isinstance(node, (cst.ListComp, cst.GeneratorExp)):
            comp = node.for_in
            if comp.inner_for_in is None and isinstance(comp.target, cst.Name) \
                    and isinstance(node.elt, cst.Name) and node.elt.value == comp.target.value:
                source = self.value_of(comp.iter)
                if isinstance(source, ParamIter) and not source.named:
                    return source
            return None
        if isinstance(node, (cst.List, cst.Tuple)):
            items = tuple(self.value_of(e.value) for e in node.elements
                          if isinstance(e, cst.Element))
            return TensorList(items)
        return None

    def _call_value(self, node: cst.Call) -> Optional[Value]:
        func = node.func
        if isinstance(func, cst.Attribute):
            method = func.attr.value
            if method == "parameters":
                return ParamIter(self.value_of(func.value))
            if method == "named_parameters":
                return ParamIter(self.value_of(func.value), named=True)
            receiver = self.value_of(func.value)
            if method in api.VIEW_METHODS and receiver is not None:
                if isinstance(receiver, (DataOf, PlainTensor)):
                    return receiver
                if isinstance(receiver, (ModuleInstance, ParamIter, TensorList)):
                    return None
                return View(receiver)
            if method == "requires_grad_":
                flag = _positional(node, 0) or (_kwarg(node, "requires_grad") or cst.Arg(cst.Name("True"))).value
                if _is_true(flag) and isinstance(receiver, (PlainTensor, Fresh)):
                    return Fresh("requires_grad_()")
                if _is_true(flag) and receiver is None and self._is_torch_tensor_call(func.value):
                    return Fresh("requires_grad_()")
                if isinstance(receiver, ModuleInstance) and _is_true(flag) is False:
                    return ModuleInstance(receiver.kind, receiver.inplace, frozen=True)
                return None
            if method in ("detach", "clone", "contiguous", "float", "double", "half", "bfloat16"):
                return PlainTensor() if receiver is not None or self._is_torch_tensor_call(func.value) else None
            qual = self.qualname(func)
        else:
            qual = self.qualname(func)
            if qual is None and isinstance(func, cst.Name):
                if func.value in self.classes:
                    return ModuleInstance(("local", func.value),
                                          inplace=_is_true((_kwarg(node, "inplace") or cst.Arg(cst.Name("False"))).value) is True)
                if func.value in ("list", "tuple") and node.args:
                    inner = self.value_of(node.args[0].value)
                    return inner if isinstance(inner, ParamIter) else None
                return None
        if qual is None:
            return None
        if qual in api.PARAMETER:
            rg = _kwarg(node, "requires_grad")
            flag = rg.value if rg is not None else _positional(node, 1)
            if flag is not None and _is_true(flag) is not True:
                return FrozenParameter()
            return Fresh("nn.Parameter(...)")
        if qual in api.BUFFER:
            return None
        layer = api.torch_nn_layer(qual)
        if layer is not None:
            inplace = _kwarg(node, "inplace")
            return ModuleInstance(("torch", layer), inplace=inplace is not None and _is_true(inplace.value) is True)
        if qual.startswith("torch.") and not qual.startswith("torch.nn.") or qual.startswith("torch.nn.functional."):
            name = qual.rsplit(".", 1)[-1]
            if name in api.FACTORIES or qual.count(".") == 1:
                rg = _kwarg(node, "requires_grad")
                if rg is not None and _is_true(rg.value):
                    return Fresh(f"{qual}(..., requires_grad=True)")
                if rg is not None and _is_true(rg.value) is None:
                    return None
            if name[:1].islower():
                return PlainTensor()
        return None

    def _is_torch_tensor_call(self, node: cst.BaseExpression) -> bool:
        if isinstance(node, cst.Call):
            qual = self.qualname(node.func)
            return bool(qual and qual.startswith("torch.") and not qual.startswith("torch.nn."))
        return False

    def _iter_items(self, iterable: cst.BaseExpression) -> Optional[Value]:
        """The value of one element when iterating ``iterable`` (a tuple for zip/named)."""
        if isinstance(iterable, cst.Call) and isinstance(iterable.func, cst.Name):
            fname = iterable.func.value
            if fname == "zip" and self.lookup("zip") is None:
                return TensorList(tuple(self._iter_items(a.value) for a in iterable.args))
            if fname == "enumerate" and self.lookup("enumerate") is None and iterable.args:
                return TensorList((None, self._iter_items(iterable.args[0].value)))
        source = self.value_of(iterable)
        if isinstance(source, ParamIter):
            item = ParamItem(source.base)
            return TensorList((None, item)) if source.named else item
        if isinstance(source, GroupList):
            return GroupItem()
        if isinstance(source, TensorList):
            return None
        return None

    def _bind_target(self, target: cst.BaseExpression, value: Optional[Value]) -> None:
        if isinstance(target, cst.Name):
            self.bind(target.value, value)
        elif isinstance(target, (cst.Tuple, cst.List)):
            items = value.items if isinstance(value, TensorList) else ()
            for i, element in enumerate(target.elements):
                sub = items[i] if i < len(items) and not isinstance(element, cst.StarredElement) else None
                self._bind_target(element.value, sub)

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
            arg = (_positional(call, 0) or getattr(_kwarg(call, "mode"), "value", None)) if call else None
            if arg is None or _is_true(arg) is True:
                return Grad.OFF
            return None if _is_true(arg) is False else Grad.UNKNOWN
        if qual in api.SET_GRAD_ENABLED:
            arg = (_positional(call, 0) or getattr(_kwarg(call, "mode"), "value", None)) if call else None
            flag = _is_true(arg)
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
        for param in params + list(node.params.kwonly_params):
            value = None
            if param.annotation is not None:
                ann = param.annotation.annotation
                if isinstance(ann, cst.SimpleString):
                    ann = None
                if ann is not None:
                    value = self._annotation_value(ann)
            env[param.name.value] = value
        for star in (node.params.star_arg, node.params.star_kwarg):
            if isinstance(star, cst.Param):
                env[star.name.value] = None
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
        self.envs.append(env)
        self.grad.append(info.decorator_grad)
        self.bind_outer(info.name)

    def _annotation_value(self, ann: cst.BaseExpression) -> Optional[Value]:
        """``p: nn.Parameter`` is a leaf; ``m: nn.Linear`` / ``m: LocalModule`` is a module."""
        qual = self.qualname(ann)
        if qual in api.PARAMETER:
            return ParamItem(None)
        return self._class_instance(ann)

    def _class_instance(self, node: cst.BaseExpression) -> Optional[ModuleInstance]:
        layer = api.torch_nn_layer(self.qualname(node))
        if layer is not None:
            return ModuleInstance(("torch", layer))
        if isinstance(node, cst.Name) and node.value in self.classes:
            return ModuleInstance(("local", node.value))
        return None

    def visit_If_body(self, node: cst.If) -> None:
        self.narrowed.append(self._isinstance_narrowing(node.test))

    def leave_If_body(self, node: cst.If) -> None:
        self.narrowed.pop()

    def _isinstance_narrowing(self, test: cst.BaseExpression) -> dict[str, Value]:
        """``if isinstance(m, nn.Linear) [and ...]:`` binds ``m`` to a Linear in the body."""
        found: dict[str, Value] = {}
        tests = [test]
        while tests:
            current = tests.pop()
            if isinstance(current, cst.BooleanOperation) and isinstance(current.operator, cst.And):
                tests.extend((current.left, current.right))
            elif isinstance(current, cst.Call) and isinstance(current.func, cst.Name) \
                    and current.func.value == "isinstance" and len(current.args) == 2 \
                    and isinstance(current.args[0].value, cst.Name):
                instance = self._class_instance(current.args[1].value)
                if instance is not None:
                    found[current.args[0].value.value] = instance
        return found

    def bind_outer(self, name: str) -> None:
        # the def statement binds its name in the enclosing scope
        if len(self.envs) >= 2:
            self.envs[-2][name] = None

    def _directly_in_class(self, node: cst.FunctionDef) -> bool:
        # parents[-1] is the FunctionDef; its parent is an IndentedBlock whose parent is the class
        return len(self.parents) >= 3 and isinstance(self.parents[-3], cst.ClassDef)

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self.frozen_paths.pop()
        self.funcs.pop()
        self.envs.pop()
        self.grad.pop()

    def visit_Lambda(self, node: cst.Lambda) -> None:
        env = {p.name.value: None for p in node.params.params}
        self.envs.append(env)

    def leave_Lambda(self, original_node: cst.Lambda) -> None:
        self.envs.pop()

    def visit_IndentedBlock(self, node: cst.IndentedBlock) -> None:
        self.grad.append(self.grad[-1])

    def leave_IndentedBlock(self, original_node: cst.IndentedBlock) -> None:
        self.grad.pop()

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
        words = [w.lower() for w in _names_in(expr)]
        if any("grad" in w or "inference" in w for w in words):
            return Grad.UNKNOWN
        return None

    def visit_If(self, node: cst.If) -> None:
        self.guards.append(node.test)

    def leave_If(self, original_node: cst.If) -> None:
        self.guards.pop()

    # ----------------------------------------------------------------- statements
    def _enter_stmt(self, node: cst.CSTNode) -> None:
        self.stmt_stack.append(node)
        self.stmt_id += 1

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
        for target in node.targets:
            self._assign_target(node, target.target, node.value, value)

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
                self._set_requires_grad(target.value, _is_true(value_node))
                return
            owner = self.value_of(target.value)
            self._record_attr_assign(stmt, owner, target.value, target.attr.value, value, value_node)
            return
        if isinstance(target, cst.Subscript):
            base = self.value_of(target.value)
            if isinstance(base, DataOf):
                self._data_write("setitem", stmt, target.value.value if isinstance(target.value, cst.Attribute) else target.value, value_node, through=base)
            else:
                self.inplace.append(InplaceSite("setitem", stmt, base, target.value, "[...] =", self.ctx()))

    def _record_attr_assign(self, stmt: cst.CSTNode, owner: Optional[Value], owner_node: cst.CSTNode,
                            attr: str, value: Optional[Value], value_node: cst.CSTNode) -> None:
        if isinstance(owner, SelfRef) and self.func.cls is not None and owner.cls == self.func.cls.name:
            self._class_fact(self.func.cls, attr, value_node)
        self.attr_assigns.append(AttrAssign(stmt, owner, owner_node, attr, value, value_node, self.ctx()))

    def _class_fact(self, cls: ClassInfo, attr: str, value_node: cst.BaseExpression) -> None:
        branches = [value_node.body, value_node.orelse] if isinstance(value_node, cst.IfExp) else [value_node]
        for branch in branches:
            value = self.value_of(branch)
            if isinstance(value, Fresh) and isinstance(branch, cst.Call) and self.qualname(branch.func) in api.PARAMETER:
                cls.params[attr] = True
            elif isinstance(branch, cst.Call) and self.qualname(branch.func) in api.PARAMETER:
                rg = _kwarg(branch, "requires_grad")
                flag = rg.value if rg is not None else _positional(branch, 1)
                cls.params[attr] = _is_true(flag) if flag is not None else None
            elif isinstance(branch, cst.Call) and self.qualname(branch.func) in api.BUFFER:
                cls.buffers.add(attr)
            elif isinstance(value, ModuleInstance):
                cls.submodules[attr] = value

    def _set_requires_grad(self, node: cst.BaseExpression, flag: Optional[bool]) -> None:
        """``x.requires_grad = flag`` / ``x.requires_grad_(flag)``, in statement order.

        Turning it off holds for the rest of the function on that path (and class-wide for
        ``self`` attributes); turning it on makes a plain local tensor a fresh leaf.
        """
        path = dotted(node)
        frozen = self.frozen_paths[-1]
        if flag is True:
            if path is not None:
                frozen.discard(path)
            if isinstance(node, cst.Name) and isinstance(self.lookup(node.value), PlainTensor):
                self.bind(node.value, Fresh(".requires_grad_()"))
            return
        if path is not None:
            frozen.add(path)
        self._freeze(node)

    def _freeze(self, node: cst.BaseExpression) -> None:
        """``x.requires_grad = False`` / ``x.requires_grad_(False)``: x no longer requires grad."""
        value = self.value_of(node)
        path = dotted(node)
        cls = self.func.cls
        if isinstance(value, ParamItem):
            value = value.base
            path = None
            if isinstance(value, SelfRef) and cls is not None:
                cls.frozen_all = True
                return
        if cls is None or self.func.self_name is None:
            return
        if path is not None and path.startswith(self.func.self_name + "."):
            cls.frozen.add(path.split(".", 1)[1])
        elif path == self.func.self_name:
            cls.frozen_all = True
        elif isinstance(value, Attr):
            chain = []
            while isinstance(value, Attr):
                chain.append(value.name)
                value = value.base
            if isinstance(value, SelfRef):
                cls.frozen.add(".".join(reversed(chain)))

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        if type(node.operator).__name__ not in _AUG_INPLACE:
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
        if qual in _BACKWARD_FUNCS or (isinstance(func, cst.Attribute) and func.attr.value.endswith("backward")):
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
            elif method == "requires_grad_":
                flag = _positional(node, 0) or getattr(_kwarg(node, "requires_grad"), "value", None)
                self._set_requires_grad(func.value, True if flag is None else _is_true(flag))
            elif method == "register_buffer" and self._is_self(func.value):
                name = _positional(node, 0)
                if isinstance(name, cst.SimpleString) and self.func.cls is not None:
                    self.func.cls.buffers.add(name.value.strip("'\""))
            elif method == "register_parameter":
                name = _positional(node, 0)
                value_node = _positional(node, 1)
                if isinstance(name, cst.SimpleString) and value_node is not None:
                    owner = self.value_of(func.value)
                    self._record_attr_assign(node, owner, func.value, name.value.strip("'\""),
                                             self.value_of(value_node), value_node)
        elif isinstance(func, cst.Name) and func.value == "setattr" and len(node.args) == 3 \
                and self.lookup("setattr") is None:
            owner_node, name_node, value_node = (a.value for a in node.args)
            attr = name_node.value.strip("'\"") if isinstance(name_node, cst.SimpleString) else "<name>"
            owner = self.value_of(owner_node)
            self._record_attr_assign(node, owner, owner_node, attr, self.value_of(value_node), value_node)
        # out=
        out = _kwarg(node, "out")
        if out is not None and qual is not None and qual.startswith("torch."):
            target = self.value_of(out.value)
            if isinstance(target, DataOf):
                self._data_write("inplace", node, out.value.value if isinstance(out.value, cst.Attribute) else out.value, None, through=target, detail="out=")
            else:
                self.inplace.append(InplaceSite("out", node, target, out.value, qual.rsplit(".", 1)[-1], ctx))
        # inplace functionals
        first = _positional(node, 0)
        inplace_kw = _kwarg(node, "inplace")
        if first is not None and inplace_kw is not None and _is_true(inplace_kw.value) and qual \
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

    def _record_call_refs(self, node: cst.Call, ctx: Context) -> None:
        candidates = [node.func] + [a.value for a in node.args]
        for expr in candidates:
            key = None
            if isinstance(expr, cst.Name):
                key = ("name", expr.value)
            elif isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name):
                owner = self.lookup(expr.value.value)
                if isinstance(owner, SelfRef):
                    key = ("method", owner.cls, expr.attr.value)
            if key is not None:
                scope = tuple(f for f in self.funcs if f is not self.module_func)
                self.calls.append(CallRef(key, scope, ctx))

    def _record_uses(self, node: cst.Call, ctx: Context) -> None:
        if ctx.grad is Grad.OFF:
            return
        qual = self.qualname(node.func)
        if qual in api.INSPECTING_FUNCTIONS or (isinstance(node.func, cst.Name) and node.func.value in api.INSPECTING_FUNCTIONS):
            return
        exprs = [a.value for a in node.args]
        if qual is None:
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
        target = self.value_of(node.value)
        if target is not None:
            self.data_reads.append(DataRead(node, target, self.ctx()))

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
            rhs = list(self._graph_sources(value_node))
        if value_node is None and isinstance(node, cst.Call):
            rhs = list(self._graph_sources(node))
        seq = self._event("data_write", None)
        self.data_writes.append(DataWrite(kind, node, target, inner, path, rhs, value_node, seq,
                                          self.stmt_id, self.ctx(), detail))

    def _parameters_owner(self, name: str) -> Optional[str]:
        """``D`` for the loop variable ``p`` of an enclosing ``for p in D.parameters():`` (or
        ``named_parameters()``): a write through ``p`` writes one of ``D``'s parameters, so it
        relates to every use of ``D`` (``D(x)``, ``D.weight``)."""
        for stmt in reversed(self.stmt_stack):
            if not isinstance(stmt, cst.For) or name not in _names_in(stmt.target):
                continue
            iterable = stmt.iter
            if isinstance(iterable, cst.Call) and isinstance(iterable.func, cst.Attribute) \
                    and iterable.func.attr.value in ("parameters", "named_parameters"):
                return dotted(iterable.func.value)
            return None
        return None

    def _graph_sources(self, node: cst.BaseExpression) -> Iterator[tuple[Value, cst.CSTNode]]:
        """Sub-expressions of a value that may carry a graph (not under .data/.detach())."""
        stack = [node]
        while stack:
            n = stack.pop()
            if isinstance(n, (cst.Name, cst.Attribute, cst.Subscript)):
                if isinstance(n, cst.Attribute) and n.attr.value in ("data", "grad", "shape", "dtype", "device"):
                    continue
                value = self.value_of(n)
                if value is not None and not isinstance(value, (DataOf, PlainTensor)):
                    yield value, n
                    continue
                if isinstance(n, cst.Subscript):
                    stack.append(n.value)
            elif isinstance(n, cst.Call):
                if isinstance(n.func, cst.Attribute):
                    if n.func.attr.value in _STOP_GRAPH_METHODS:
                        continue
                    stack.append(n.func.value)
                stack.extend(a.value for a in n.args)
            elif isinstance(n, cst.BinaryOperation):
                stack.extend((n.left, n.right))
            elif isinstance(n, cst.UnaryOperation):
                stack.append(n.expression)
            elif isinstance(n, cst.IfExp):
                stack.extend((n.body, n.orelse))


def _prepass(module: cst.Module) -> tuple[ImportTable, dict[str, ClassInfo]]:
    """Imports anywhere at module level and in functions, and the classes of the file."""
    imports = ImportTable()
    classes: dict[str, ClassInfo] = {}

    def walk(body: Iterable[cst.CSTNode]) -> None:
        for stmt in body:
            if isinstance(stmt, cst.SimpleStatementLine):
                for small in stmt.body:
                    if isinstance(small, (cst.Import, cst.ImportFrom)):
                        imports.add(small)
            elif isinstance(stmt, cst.ClassDef):
                bases = []
                for arg in stmt.bases:
                    name = imports.qualname(arg.value) or dotted(arg.value) or ""
                    bases.append(name)
                classes.setdefault(stmt.name.value, ClassInfo(stmt.name.value, stmt, bases))
                walk(stmt.body.body if isinstance(stmt.body, cst.IndentedBlock) else ())
            elif isinstance(stmt, (cst.If, cst.Try, cst.With)):
                walk(stmt.body.body if isinstance(stmt.body, cst.IndentedBlock) else ())
                if isinstance(stmt, cst.If) and stmt.orelse is not None:
                    walk([stmt.orelse] if isinstance(stmt.orelse, cst.If) else stmt.orelse.body.body)
                if isinstance(stmt, cst.Try):
                    for handler in stmt.handlers:
                        walk(handler.body.body if isinstance(handler.body, cst.IndentedBlock) else ())
            elif isinstance(stmt, cst.FunctionDef):
                if isinstance(stmt.body, cst.IndentedBlock):
                    for inner in stmt.body.body:
                        if isinstance(inner, cst.SimpleStatementLine):
                            for small in inner.body:
                                if isinstance(small, (cst.Import, cst.ImportFrom)):
                                    imports.add(small)

    walk(module.body)
    # class kinds need every class's bases, so compute after collection
    for info in classes.values():
        for base in info.bases:
            if base in api.AUTOGRAD_FUNCTION or base.endswith("autograd.Function"):
                info.is_autograd_function = True
        body = info.node.body.body if isinstance(info.node.body, cst.IndentedBlock) else ()
        info.has_forward = any(isinstance(s, cst.FunctionDef) and s.name.value == "forward" for s in body)
    changed = True
    while changed:
        changed = False
        for info in classes.values():
            if info.is_autograd_function:
                continue
            if any(base in classes and classes[base].is_autograd_function for base in info.bases):
                info.is_autograd_function = True
                changed = True
    return imports, classes


class SemanticModel:
    """The resolved facts of one file."""

    def __init__(self, module: cst.Module) -> None:
        self.module = module
        imports, classes = _prepass(module)
        self.imports = imports
        self.classes = classes
        collector = _Collector(imports, classes)
        walk(module, collector, collector.parents)
        self.inplace = collector.inplace
        self.data_writes = collector.data_writes
        self.data_reads = collector.data_reads
        self.attr_assigns = collector.attr_assigns
        self.funcs = collector.all_funcs
        self._collector = collector
        self._resolve_call_graph(collector)
        self._graph_writes = self._writes_between_use_and_backward()

    # ------------------------------------------------------------ call graph
    def _callees(self, ref: CallRef, collector: _Collector) -> list[FuncInfo]:
        kind = ref.key[0]
        if kind == "name":
            name = ref.key[1]
            for scope in reversed(ref.scope):
                if name in scope.nested:
                    return scope.nested[name]
            return collector.module_functions.get(name, [])
        cls_name, name = ref.key[1], ref.key[2]
        found: list[FuncInfo] = []
        for cls in self._related_classes(cls_name):
            found.extend(cls.methods.get(name, []))
        return found

    def _related_classes(self, name: str) -> list[ClassInfo]:
        """The class, its same-file bases and its same-file subclasses."""
        seen: dict[str, ClassInfo] = {}
        stack = [name]
        while stack:
            current = stack.pop()
            info = self.classes.get(current)
            if info is None or current in seen:
                continue
            seen[current] = info
            stack.extend(b for b in info.bases if b in self.classes)
        for info in self.classes.values():
            if info.name not in seen and any(b == name for b in info.bases):
                seen[info.name] = info
        return list(seen.values())

    def _resolve_call_graph(self, collector: _Collector) -> None:
        sites: dict[int, list[CallRef]] = {}
        for ref in collector.calls:
            for callee in self._callees(ref, collector):
                if callee is not ref.ctx.func:
                    sites.setdefault(id(callee), []).append(ref)
        for func in self.funcs:
            func.in_forward = self._is_forward_method(func)
            if func.decorator_grad is not Grad.INHERIT:
                func.entry_grad = func.decorator_grad
            else:
                func.entry_grad = Grad.OFF if id(func) in sites else Grad.ON
        for _ in range(20):
            changed = False
            for func in self.funcs:
                refs = sites.get(id(func))
                if not refs:
                    continue
                if func.decorator_grad is Grad.INHERIT:
                    states = {self.grad_at(r.ctx) for r in refs}
                    new = Grad.OFF if states == {Grad.OFF} else Grad.ON if Grad.ON in states else Grad.UNKNOWN
                    if new is not func.entry_grad:
                        func.entry_grad = new
                        changed = True
                if not func.in_forward and all(r.ctx.func.in_forward for r in refs):
                    func.in_forward = True
                    changed = True
            if not changed:
                break

    def _is_forward_method(self, func: FuncInfo) -> bool:
        return func.name == "forward" and func.cls is not None and self.is_module_class(func.cls)

    def is_module_class(self, cls: ClassInfo) -> bool:
        if cls.is_autograd_function:
            return False
        for base in cls.bases:
            if base in api.MODULE_BASES or api.torch_nn_layer(base):
                return True
            if base in self.classes and base != cls.name and self.is_module_class(self.classes[base]):
                return True
        return cls.has_forward

    # ------------------------------------------------------------ queries
    def grad_at(self, ctx: Context) -> Grad:
        """The grad mode at a fact: the lexical one, or the function's entry mode."""
        if ctx.grad is Grad.INHERIT:
            return ctx.func.entry_grad
        return ctx.grad

    def module_of(self, value: Optional[Value]) -> Optional[ModuleInstance]:
        if isinstance(value, SelfRef):
            return ModuleInstance(("local", value.cls))
        if isinstance(value, ModuleInstance):
            return value
        if isinstance(value, Attr):
            owner = self.module_of(value.base)
            if owner is None:
                return None
            if owner.kind[0] == "local":
                for cls in self._class_chain(owner.kind[1]):
                    if value.name in cls.submodules:
                        sub = cls.submodules[value.name]
                        return ModuleInstance(sub.kind, sub.inplace, sub.frozen or owner.frozen or self._frozen(value))
                return None
            sub_name = api.LAYER_SUBMODULES.get(owner.kind[1], {}).get(value.name)
            if sub_name is not None:
                return ModuleInstance(("torch", sub_name), frozen=owner.frozen)
        return None

    def _class_chain(self, name: str) -> list[ClassInfo]:
        chain, seen, stack = [], set(), [name]
        while stack:
            current = stack.pop(0)
            if current in seen or current not in self.classes:
                continue
            seen.add(current)
            info = self.classes[current]
            chain.append(info)
            stack.extend(info.bases)
        return chain

    def _frozen(self, value: Value) -> bool:
        """Whether a ``self.a.b`` path (or a prefix of it) was set to not require grad."""
        chain = []
        while isinstance(value, Attr):
            chain.append(value.name)
            value = value.base
        if not isinstance(value, SelfRef):
            return False
        chain.reverse()
        for cls in self._class_chain(value.cls):
            if cls.frozen_all:
                return True
            for i in range(1, len(chain) + 1):
                if ".".join(chain[:i]) in cls.frozen:
                    return True
        return False

    def parameter_slot(self, owner: Optional[Value], attr: str) -> Optional[bool]:
        """requires_grad of the Parameter registered as ``owner.attr`` (None: unknown / none)."""
        module = self.module_of(owner)
        if module is None:
            return None
        if module.kind[0] == "torch":
            return True if attr in api.LAYER_PARAMETERS.get(module.kind[1], ()) else None
        for cls in self._class_chain(module.kind[1]):
            if attr in cls.deleted_params or "*" in cls.deleted_params or attr in cls.buffers:
                return None
            if attr in cls.params:
                return cls.params[attr]
            for base in cls.bases:
                layer = api.torch_nn_layer(base)
                if layer is not None and attr in api.LAYER_PARAMETERS.get(layer, ()):
                    return True  # a subclass of nn.Linear & co. owns its weight and bias
        return None

    def is_parameter_slot(self, owner: Optional[Value], attr: str) -> bool:
        if (owner, attr) in self._collector.deleted or (owner, "*") in self._collector.deleted:
            return False
        module = self.module_of(owner)
        if module is None:
            return False
        if module.kind[0] == "torch":
            return attr in api.LAYER_PARAMETERS.get(module.kind[1], ())
        for cls in self._class_chain(module.kind[1]):
            if attr in cls.deleted_params or "*" in cls.deleted_params or attr in cls.buffers:
                return False
            if attr in cls.params:
                return True
            if any(attr in api.LAYER_PARAMETERS.get(api.torch_nn_layer(b) or "", ()) for b in cls.bases):
                return True
        return False

    def leaf(self, value: Optional[Value]) -> Optional[Leaf]:
        """Whether a value is a leaf that requires grad (or a view of one)."""
        if isinstance(value, Fresh):
            return Leaf(False, "tensor")
        if isinstance(value, ParamItem):
            base_module = self.module_of(value.base) if value.base is not None else None
            if base_module is not None and base_module.frozen:
                return None
            if isinstance(value.base, (SelfRef, Attr)) and self._frozen(value.base):
                return None
            return Leaf(False, "parameter")
        if isinstance(value, View):
            inner = self.leaf(value.base)
            return Leaf(True, inner.kind) if inner is not None else None
        if isinstance(value, Attr):
            module = self.module_of(value.base)
            if module is None or module.frozen:
                return None
            if self.parameter_slot(value.base, value.name) is True and not self._frozen(value):
                return Leaf(False, "parameter")
        return None

    def leaf_in_collection(self, value: Optional[Value]) -> Optional[Leaf]:
        """A leaf inside a list of tensors (``model.parameters()``, ``[w1, w2]``)."""
        if isinstance(value, ParamIter) and not value.named:
            return self.leaf(ParamItem(value.base))
        if isinstance(value, TensorList):
            for item in value.items:
                found = self.leaf(item)
                if found is not None:
                    return found
        return None

    def module_owns_parameters(self, value: Optional[Value]) -> bool:
        if not isinstance(value, ModuleInstance) or value.frozen:
            return False
        if value.kind[0] == "torch":
            return value.kind[1] in api.LAYER_PARAMETERS
        return any(cls.params or any(self.module_owns_parameters(s) for s in cls.submodules.values())
                   for cls in self._class_chain(value.kind[1]))

    def in_forward(self, ctx: Context) -> bool:
        return ctx.func.in_forward

    def used_before(self, write: DataWrite) -> bool:
        """Whether the written tensor itself was used by an op earlier in the same function."""
        if write.path is None:
            return False
        for _, stmt_id, kind, payload in write.ctx.func.events:
            if kind == "data_write" and _ == write.seq:
                return False
            if kind == "use" and stmt_id != write.stmt_id and (
                    payload == write.path or payload.startswith(write.path + ".")):
                return True
        return False

    def is_graph_write(self, write: DataWrite) -> bool:
        return id(write) in self._graph_writes

    def _writes_between_use_and_backward(self) -> set[int]:
        """``.data`` writes on a path used by a differentiable op before a later backward()."""
        flagged: set[int] = set()
        writes_by_seq = {w.seq: w for w in self.data_writes}
        for func in self.funcs:
            events = func.events
            if not any(kind == "backward" for _, _, kind, _ in events):
                continue
            for index, (seq, stmt_id, kind, _) in enumerate(events):
                if kind != "data_write":
                    continue
                write = writes_by_seq.get(seq)
                if write is None or write.path is None:
                    continue
                if not any(k == "backward" for _, _, k, _ in events[index + 1:]):
                    continue
                for prev_seq, prev_stmt, prev_kind, payload in reversed(events[:index]):
                    if prev_kind == "backward":
                        break
                    if prev_kind == "use" and prev_stmt != stmt_id and _related(payload, write.path):
                        flagged.add(id(write))
                        break
        return flagged

    def text(self, node: cst.CSTNode) -> str:
        return self.module.code_for_node(node).strip()


def _related(a: str, b: str) -> bool:
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def build_model(module: cst.Module) -> SemanticModel:
    return SemanticModel(module)

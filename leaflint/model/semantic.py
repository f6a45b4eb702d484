"""The resolved facts of one file: the call graph, the grad mode each function is entered
with, whether it runs inside ``forward``, and the queries rules ask (is this a leaf that
requires grad? is grad mode on here? is this a parameter slot?).
"""

from __future__ import annotations

from typing import Optional

import dataclasses

import libcst as cst

from leaflint.model import torchapi as api
from leaflint.model.built import BuiltModule, built_modules
from leaflint.model.collect import Collector
from leaflint.model.facts import (  # noqa: F401  (re-exported for the rules)
    AttrAssign, CallRef, ClassInfo, Context, DataRead, DataWrite, FuncInfo, Grad, InplaceSite, Leaf,
)
from leaflint.model.flow import common_return, handles, one_time_guard, refuted_where
from leaflint.model.prepass import prepass
from leaflint.model.project import ProjectView
from leaflint.model.summaries import call_site_writes, graph_argument_writes, returned_value
from leaflint.model.values import (
    Attr, DataOf, DictOf, Fresh, FrozenParameter, Item, Key, ModuleInstance, Output, ParamItem, ParamIter, PlainTensor,
    SelfRef, TensorList, Value, Values, View,
)
from leaflint.model.hooks import output_leaf
from leaflint.model.lifecycle import LifecycleQueries
from leaflint.model.named_slots import named_slot_writes
from leaflint.model.syntax import contains
from leaflint.model.walk import walk


class SemanticModel(LifecycleQueries):
    """The resolved facts of one file."""

    def __init__(self, module: cst.Module, project: Optional[ProjectView] = None) -> None:
        self.module = module
        self.project = project
        imports, classes, collector = _collect(module, project, None)
        if collector.late_calls:
            # A call read before the function it calls (defined later in the file): walk the
            # file again with every module-level function's return summary known (bottom-up by
            # rounds; a function whose summary needs its own, recursion, stays unknown).
            for _ in range(_LATE_ROUNDS):
                known = _return_summaries(collector)
                if not any(known.get(name) is not None for name in collector.late_calls):
                    break
                imports, classes, again = _collect(module, project, known)
                settled = _return_summaries(again) == known
                collector = again
                if settled:
                    break
        self.imports = imports
        self.classes = classes
        self.inplace = collector.inplace
        self.data_writes = collector.data_writes
        self.data_reads = collector.data_reads
        self.attr_assigns = collector.attr_assigns
        self.funcs = collector.all_funcs
        self.arg_calls = collector.arg_calls  # calls of the file's functions, with their arguments
        self._collector = collector
        self._resolve_call_graph(collector)
        self.param_writes: dict[int, list] = {}  # function id -> its in-place writes into its parameters
        self.inplace.extend(call_site_writes(self, collector.arg_calls, self.param_writes))
        self._graph_writes = self._writes_between_use_and_backward()
        self._graph_argument_writes = graph_argument_writes(self, collector.arg_calls)
        self.setattr_flows: dict[int, list] = {}  # function id -> its setattr of its parameters (named_slots)
        self.named_slot_writes = named_slot_writes(self, collector.arg_calls, self.setattr_flows)

    def module_functions(self) -> dict[str, list[FuncInfo]]:
        """The functions defined at module level, by name."""
        return self._collector.module_functions

    # ------------------------------------------------------------ call graph
    def callees(self, ref: CallRef) -> list[FuncInfo]:
        kind = ref.key[0]
        if kind == "project":
            info = self.project.function_info(ref.key[1]) if self.project is not None else None
            return [info] if info is not None else []
        if kind == "name":
            name = ref.key[1]
            for scope in reversed(ref.scope):
                if name in scope.nested:
                    return scope.nested[name]
            return self._collector.module_functions.get(name, [])
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

    def _resolve_call_graph(self, collector: Collector) -> None:
        sites: dict[int, list[CallRef]] = {}
        for ref in collector.calls:
            for callee in self.callees(ref):
                if callee is not ref.ctx.func:
                    sites.setdefault(id(callee), []).append(ref)
        self._sites = sites
        self._assigned_memo: dict[int, set[str]] = {}
        self._once_memo: dict[int, bool] = {}
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
        if isinstance(value, (View, Item)):
            # an element of a module container (``self.blocks[0]``, ``for conv in head.convs``)
            container = self.module_of(value.base)
            if container is None:
                return None
            if container.kind[0] == "tree":
                return container
            if container.item is not None:
                return dataclasses.replace(container.item, frozen=container.item.frozen or container.frozen)
            return None
        if isinstance(value, Attr):
            owner = self.module_of(value.base)
            if owner is None:
                return None
            if owner.kind[0] == "tree":
                return None if value.name in api.TREE_PARAMETERS else owner
            if owner.kind[0] == "torch" and owner.kind[1] in api.COMPOSITE_LAYERS:
                # ``encoder.layers[i].linear2``: torch layers all the way down
                return ModuleInstance(("tree", f"torch.nn.{owner.kind[1]}"), frozen=owner.frozen)
            if owner.kind[0] == "local":
                for cls in self._class_chain(owner.kind[1]):
                    if value.name in cls.submodules:
                        sub = cls.submodules[value.name]
                        return dataclasses.replace(sub, frozen=sub.frozen or owner.frozen or self._frozen(value))
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

    def _frozen_when(self, value: Optional[Value]) -> Optional[str]:
        """For a ``self.a.b`` path whose requires_grad the class switches off only under a condition
        (``if freeze: self.emb.weight.requires_grad = False``): the condition under which it still
        requires grad (``not freeze``)."""
        chain = []
        while isinstance(value, (Attr, View, ParamItem)):
            if isinstance(value, Attr):
                chain.append(value.name)
            value = value.base
        if not isinstance(value, SelfRef):
            return None
        chain.reverse()
        for cls in self._class_chain(value.cls):
            for i in range(1, len(chain) + 1):
                when = cls.frozen_when.get(".".join(chain[:i]))
                if when is not None:
                    return when
        return None

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
        if module.kind[0] == "tree":
            return True if attr in api.TREE_PARAMETERS else None
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
        if module.kind[0] == "tree":
            return attr in api.TREE_PARAMETERS
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

    def parameters_deleted(self, owner: Optional[Value]) -> bool:
        """Whether some Parameter of ``owner`` is deleted by a name not known here
        (``del owner._parameters[name]``): its slots may no longer hold Parameters."""
        return (owner, "*") in self._collector.deleted

    def owns_parameters_directly(self, owner: Optional[Value]) -> bool:
        """Whether the module ``owner`` registers Parameters of its own (not only in submodules):
        a torch layer that has them, or a class of the project that assigns one."""
        module = self.module_of(owner)
        if module is None or module.frozen:
            return False
        if module.kind[0] == "torch":
            return bool(api.LAYER_PARAMETERS.get(module.kind[1]))
        if module.kind[0] != "local":
            return False
        for cls in self._class_chain(module.kind[1]):
            if "*" in cls.deleted_params:
                return False
            if set(cls.params) - cls.deleted_params:
                return True
        return False

    def leaf(self, value: Optional[Value]) -> Optional[Leaf]:
        """Whether a value is a leaf that requires grad (or a view of one)."""
        found = self._leaf(value)
        if found is not None and found.when is None:
            when = self._frozen_when(value)
            if when is not None:
                return Leaf(found.view, found.kind, when)
        return found

    def _leaf(self, value: Optional[Value]) -> Optional[Leaf]:
        if isinstance(value, (Item, Key, Values)):
            return self._element_leaf(value)
        if isinstance(value, Fresh):
            return Leaf(False, "tensor", when=value.when)
        if isinstance(value, Output):
            return Leaf(False, "output") if output_leaf(self, value.base) else None
        if isinstance(value, ParamItem):
            base_module = self.module_of(value.base) if value.base is not None else None
            if base_module is not None and base_module.frozen:
                return None
            if isinstance(value.base, (SelfRef, Attr)) and self._frozen(value.base):
                return None
            return Leaf(False, "parameter")
        if isinstance(value, View):
            inner = self.leaf(value.base)
            return Leaf(True, inner.kind, inner.when) if inner is not None else None
        if isinstance(value, Attr):
            module = self.module_of(value.base)
            if module is None or module.frozen:
                return None
            if self.parameter_slot(value.base, value.name) is True and not self._frozen(value):
                return Leaf(False, "parameter")
        return None

    def _candidates(self, value: Optional[Value]) -> Optional[list]:
        """What a path through lists and dicts built in this file may denote: a list of values
        (several for an element of a list whose elements differ), or None when unknown."""
        if isinstance(value, (Item, Key, Values)):
            bases = self._candidates(value.base)
            if bases is None:
                return None
            found: list = []
            for base in bases:
                more = self._step(value, base)
                if more is None:
                    return None
                found.extend(more)
            return found
        if isinstance(value, View) and isinstance(value.base, (Item, Key, Values)):
            bases = self._candidates(value.base)
            return None if bases is None else [View(b) for b in bases]
        return [value]

    @staticmethod
    def _step(step: Value, base: Value) -> Optional[list]:
        if isinstance(base, View) and isinstance(base.base, (TensorList, DictOf, ParamIter)):
            base = base.base  # ``params[i]`` read as a view of the list: one of its elements
        if isinstance(step, Values):
            return [TensorList(tuple(v for _, v in base.entries))] if isinstance(base, DictOf) else [base]
        if isinstance(base, TensorList):
            if isinstance(step, Key) and isinstance(step.key, int):
                return [base.items[step.key]] if -len(base.items) <= step.key < len(base.items) else None
            return list(base.items)
        if isinstance(base, DictOf):
            if isinstance(step, Item):
                return None  # iterating a dict gives its keys
            if isinstance(step, Key) and isinstance(step.key, str):
                named = [v for k, v in base.entries if k == step.key]
                return named[-1:] + [v for k, v in base.entries if k is None]
            return [v for _, v in base.entries]
        if isinstance(base, ParamIter) and not base.named:
            return [ParamItem(base.base)]
        if isinstance(step, Item) and isinstance(base, (ModuleInstance, Attr, Item, View)):
            return [Item(base)]  # an element of a module container
        return None

    def _element_leaf(self, value: Value) -> Optional[Leaf]:
        """An element of a list or dict: ``for p in params`` reaches every element (one leaf
        among them is enough); ``d[k]`` is one of them (all must be leaves)."""
        candidates = self._candidates(value)
        if not candidates or all(isinstance(c, (Item, Key, Values)) for c in candidates):
            return None
        leaves = [self.leaf(c) if not isinstance(c, (Item, Key, Values)) else None for c in candidates]
        every = isinstance(value, Item) or (isinstance(value, View) and isinstance(value.base, Item))
        known = [leaf for leaf in leaves if leaf is not None]
        if not known or (not every and len(known) != len(leaves)):
            return None
        return known[0]

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

    def module_owns_parameters(self, value: Optional[Value], seen: Optional[set] = None) -> bool:
        if not isinstance(value, ModuleInstance) or value.frozen:
            return False
        if value.kind[0] == "torch":
            return value.kind[1] in api.LAYER_PARAMETERS
        seen = set() if seen is None else seen
        if value.kind[1] in seen:
            return False  # a class that holds instances of itself (a tree, a linked chunk)
        seen.add(value.kind[1])
        return any(cls.params or any(self.module_owns_parameters(s, seen) for s in cls.submodules.values())
                   for cls in self._class_chain(value.kind[1]))

    def in_forward(self, ctx: Context) -> bool:
        return ctx.func.in_forward

    def cuts_forward_output(self, read: DataRead) -> bool:
        """Whether a ``.data`` read is the whole output of a module's ``forward``, grad on: every
        ``return`` of that forward gives a ``.data`` read (or a view of one), this one among them.
        The module's output then carries no graph: nothing that computed it gets a gradient
        through it. (A ``.data`` term next to a graph-carrying one, ``x + (q - x).data``, is a
        straight-through estimator, and a read that feeds only logging is not the output.)"""
        func = read.ctx.func
        if not self._is_forward_method(func) or self.grad_at(read.ctx) is not Grad.ON:
            return False
        returns = func.returns
        return bool(returns) and all(isinstance(r, DataOf) and r.node is not None for r in returns) \
            and any(r.node is read.node for r in returns)

    def built_in_forward(self) -> list[BuiltModule]:
        """Parameter-owning modules built inside forward (or helpers reached only from it) and only
        applied there, never registered (``nn.Linear(a, b)(x)``; see ``model/built.py``)."""
        return built_modules(self, [f for f in self.funcs if f.in_forward])

    def site_leaf(self, site: InplaceSite) -> Optional[Leaf]:
        """The leaf an in-place site writes, when it is known to be one there.

        Not for an item write into an attribute that the class also binds to a dict or list (the
        write may be on that path), nor in ``__init__`` before the Parameter is assigned. An
        ``except RuntimeError`` around the write does not excuse it: on a leaf the write always
        raises, so the ``try`` body never does what it says (unlike LL303's TypeError fallback,
        whose ``except`` does the intended assignment)."""
        if site.kind == "foreach":
            return self.leaf_in_collection(site.target)
        if site.kind in ("setitem", "augassign") and self._container_slot(site.target):
            return None
        root = site.target
        while isinstance(root, View):
            root = root.base
        if isinstance(root, Attr) and not self.registered_before(root.base, root.name, site.ctx):
            return None  # in __init__, before the Parameter is assigned: still a plain tensor
        if isinstance(root, ParamItem) and root.base is None and self._callers_pass_frozen(site):
            return None
        found = self.leaf(site.target)
        if found is not None and found.when is not None \
                and refuted_where(found.when, site.ctx.ifs, site.ctx.exits, site.node):
            return None  # ``if not flag: w.fill_(1)``: a leaf that requires grad only when ``flag`` is true
        return found

    def _callers_pass_frozen(self, site: InplaceSite) -> bool:
        """A parameter annotated ``nn.Parameter`` says its type, not that it requires grad: when
        the function's calls in this file are known and every one passes a tensor known not to
        require grad (``nn.Parameter(t, requires_grad=False)``), the write is on that tensor."""
        func = site.ctx.func
        node = site.target_node
        while isinstance(node, (cst.Subscript, cst.Attribute)):
            node = node.value
        if not isinstance(node, cst.Name) or node.value not in func.params or func.cls is not None:
            return False
        position = func.params.index(node.value)
        calls = [c for c in self._collector.arg_calls if c.key == ("name", func.name)]
        if not calls:
            return False
        for call in calls:
            given = [v for kw, v, _ in call.args if kw == node.value]
            if not given:
                positional = [v for kw, v, _ in call.args if kw is None]
                if position >= len(positional):
                    return False
                given = [positional[position]]
            value = given[0]
            if isinstance(value, FrozenParameter):
                continue
            if not isinstance(value, Attr) or self.parameter_slot(value.base, value.name) is not False:
                return False
        return True

    def _container_slot(self, value: Optional[Value]) -> bool:
        while isinstance(value, View):
            value = value.base
        if not isinstance(value, Attr):
            return False
        module = self.module_of(value.base)
        if module is None or module.kind[0] != "local":
            return False
        return any(value.name in cls.containers for cls in self._class_chain(module.kind[1]))

    def value_assigned(self, assign: AttrAssign) -> Optional[Value]:
        """The value of an attribute assignment; for a call of a function of this file that was
        unknown where it was read, what its returns give (see ``summaries.returned_value``)."""
        if assign.value is not None:
            return assign.value
        return returned_value(self, assign.value_node, assign.ctx)

    def falls_back_on(self, ctx: Context, exception: str) -> bool:
        """Whether an enclosing ``try`` turns ``exception`` into a deliberate fallback."""
        return handles(ctx.handled, exception)

    def used_before(self, write: DataWrite) -> bool:
        """Whether the written tensor itself was used by an op earlier in the same function."""
        if write.path is None:
            return False
        # A write inside a one-time guard (``if not self.quantized: ...; self.quantized = True``)
        # is first-call setup: uses that are setup too (inside one-time guards) compute what it
        # writes; the output is computed afterwards, from the written values.
        setup = any(one_time_guard(node) for node in write.ctx.ifs)
        for _, stmt_id, kind, payload in write.ctx.func.events:
            if kind == "data_write" and _ == write.seq:
                return False
            if kind == "use" and stmt_id != write.stmt_id and (
                    payload == write.path or payload.startswith(write.path + ".")):
                if setup and any(one_time_guard(node) for node in self._collector.stmt_ifs.get(stmt_id, ())):
                    continue
                return True
        return False

    def is_graph_write(self, write: DataWrite) -> bool:
        return id(write) in self._graph_writes

    def graph_argument_call(self, write: DataWrite) -> Optional[cst.Call]:
        """The call that passes a graph value to a helper writing it through ``.data``, with a
        backward() after it (``summaries.graph_argument_writes``), or None."""
        return self._graph_argument_writes.get(id(write))

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
                if not any(k == "backward" and not self._exclusive_stmts(s, stmt_id)
                           for _, s, k, _ in events[index + 1:]):
                    continue  # no backward on a path through the write
                for prev_seq, prev_stmt, prev_kind, payload in reversed(events[:index]):
                    if prev_kind == "backward":
                        break
                    if prev_kind == "use" and prev_stmt != stmt_id and _related(payload, write.path) \
                            and not self._exclusive_stmts(prev_stmt, stmt_id):
                        flagged.add(id(write))
                        break
                    if prev_kind == "derive" and prev_stmt != stmt_id and self.derives_from_leaf(payload, write.path):
                        flagged.add(id(write))
                        break
        return flagged

    def stale_optimizers(self, lazy) -> list:
        """Replacements of state an optimizer of the same function holds, then uses
        (``leaflint.model.optimizers``; ``lazy``: the rule's test of a one-time creation)."""
        from leaflint.model.optimizers import stale_optimizers

        return stale_optimizers(self, lazy)

    def derives_from_leaf(self, payload: tuple, path: str) -> bool:
        """A ``derive`` event (``out = a.sigmoid()``, grad on) binds ``path`` (or its base name)
        to a value computed from a leaf that requires grad: the value is part of that graph, and
        a ``.data`` write on it before backward() changes what backward reads, unseen."""
        name, sources = payload
        return (path == name or path.startswith(name + ".")) and any(self.leaf(v) is not None for v in sources)

    def _exclusive_stmts(self, first: int, second: int) -> bool:
        """Whether two statements (by number) sit in different branches of one ``if``."""
        collector = self._collector
        a_ifs, b_ifs = collector.stmt_ifs.get(first, ()), collector.stmt_ifs.get(second, ())
        a, b = collector.stmt_nodes.get(first), collector.stmt_nodes.get(second)
        if a is None or b is None:
            return False
        for node in a_ifs:
            if node in b_ifs and node.orelse is not None and contains(node.body, a) != contains(node.body, b):
                return True
        return False

    def text(self, node: cst.CSTNode) -> str:
        return self.module.code_for_node(node).strip()


def _related(a: str, b: str) -> bool:
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


_LATE_ROUNDS = 4


def _collect(module: cst.Module, project: Optional[ProjectView],
             known: Optional[dict[str, Optional[Value]]]) -> tuple:
    imports, classes = prepass(module, project)
    collector = Collector(imports, classes, project, known)
    walk(module, collector, collector.parents)
    return imports, classes, collector


def _return_summaries(collector: Collector) -> dict[str, Optional[Value]]:
    """What each module-level function (defined once) returns, by name. A plain tensor is left
    out: it never makes a leaf by itself, and a file walked again for it costs a whole walk."""
    found = {name: common_return(defs[0].returns) if len(defs) == 1 else None
             for name, defs in collector.module_functions.items()}
    return {name: None if isinstance(value, PlainTensor) else value for name, value in found.items()}


def build_model(module: cst.Module, project: Optional[ProjectView] = None) -> SemanticModel:
    return SemanticModel(module, project)

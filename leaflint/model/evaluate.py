"""What an expression denotes: the symbolic value of a libcst expression at the walk's position.

``Evaluator`` is the half of the collector that reads expressions; the collector keeps the
environments (``lookup``), the imports (``qualname``), the classes and the frozen paths.
"""

from __future__ import annotations

from typing import Iterator, Optional

import libcst as cst

from leaflint.model import torchapi as api
from leaflint.model.facts import ClassInfo
from leaflint.model.imports import ImportTable, dotted
from leaflint.model.project import ProjectView
from leaflint.model.syntax import graph_operands, is_true, kwarg, positional, view_index
from leaflint.model.values import (
    Attr, DataOf, DictOf, Fresh, FrozenParameter, GroupItem, GroupList, Key, ModuleInstance, ParamItem,
    ParamIter, ParamName, PlainTensor, SelfRef, TensorList, Value, Values, View, Arg, Item, Output, path_root,
)

STOP_GRAPH_METHODS = {"detach", "item", "tolist", "numpy", "cpu", "data_ptr", "size", "dim",
                       "numel", "clone"}


def unknown_root(value: Optional[Value]) -> bool:
    """None, or a value rooted in a function parameter or a container element: not known to be a tensor."""
    while isinstance(value, (View, Attr, Key, Values)):
        value = value.base
    return value is None or isinstance(value, (Arg, Item, Output, ParamName))


def arg_path(value: Optional[Value]) -> bool:
    """A path into one of the enclosing function's parameters (``model.layers[i].fc``,
    ``edge["alpha"]``, an element of ``*args``): what a call substitutes its argument into."""
    return isinstance(path_root(value), Arg)


def literal_key(node: cst.Subscript) -> Optional[object]:
    """The literal key of ``base["k"]`` / ``base[0]`` (one index), or None."""
    if len(node.slice) != 1 or not isinstance(node.slice[0].slice, cst.Index):
        return None
    value = node.slice[0].slice.value
    if isinstance(value, cst.SimpleString):
        return value.value[1:-1] if value.value[:1] in "'\"" else None
    if isinstance(value, cst.Integer):
        return int(value.value, 0)
    return None


def mapping_values(value: DictOf) -> TensorList:
    return TensorList(tuple(v for _, v in value.entries))


def module_tree_factory(qual: Optional[str], func: cst.BaseExpression) -> Optional[str]:
    """The name of a factory or loader that builds a whole module tree (pretrained or not)."""
    if qual is not None:
        if qual in api.MODULE_TREE_FACTORIES or (
                qual.startswith(api.MODULE_TREE_PACKAGES) and qual.rsplit(".", 1)[-1][:1].islower()):
            return qual
    if isinstance(func, cst.Attribute) and func.attr.value == "from_pretrained":
        owner = dotted(func.value) or ""
        last = owner.rsplit(".", 1)[-1]
        if last[:1].isupper() and not any(word in last for word in api.NOT_MODULE_CLASS_WORDS):
            return f"{owner}.from_pretrained"
    return None


def _pretrained_table(layer: str, node: cst.Call) -> ModuleInstance:
    """``nn.Embedding.from_pretrained(t[, freeze])``: its weight is frozen unless ``freeze`` is
    false (the default is true). A flag that is not a literal: frozen for the leaf questions
    (silent), and not known to be frozen for a hooked output (silent too)."""
    arg = kwarg(node, "freeze")
    flag = is_true(arg.value if arg is not None else positional(node, 1) or cst.Name("True"))
    if flag is False:
        return ModuleInstance(("torch", layer))
    return ModuleInstance(("torch", layer), frozen=True, frozen_parts=frozenset({""}) if flag else frozenset())


def _affine(layer: str, node: cst.Call) -> bool:
    """Whether the layer has parameters by its constructor's flag (``affine=False``: none). A flag
    that is not a literal leaves it unknown: not known to own parameters."""
    if layer not in api.AFFINE_ARGUMENTS:
        return True
    keyword, position, default = api.AFFINE_ARGUMENTS[layer]
    arg = kwarg(node, keyword)
    flag = arg.value if arg is not None else positional(node, position)
    return default if flag is None else is_true(flag) is True


class Evaluator:
    imports: ImportTable
    classes: dict[str, ClassInfo]
    project: Optional[ProjectView] = None
    frozen_paths: list[set[str]]
    branch_frozen: list[set[str]]

    def lookup(self, name: str) -> Optional[Value]:
        raise NotImplementedError

    def call_summary(self, name: str, call: Optional[cst.Call] = None) -> Optional[Value]:
        """What a call of the local function ``name`` returns, when its summary says."""
        raise NotImplementedError

    def method_summary(self, cls: str, name: str) -> Optional[Value]:
        """What a call of method ``name`` of the class ``cls`` of this file returns, when its
        summary says (a reader without the file's functions knows none)."""
        return None

    def is_frozen_path(self, path: Optional[str]) -> bool:
        """Whether requires_grad was switched off on ``path`` (or a prefix) here."""
        if path is None:
            return False
        for frozen in (self.frozen_paths[-1], *self.branch_frozen):
            for prefix in frozen:
                if path == prefix or path.startswith(prefix + "."):
                    return True
        return False

    def qualname(self, node: cst.BaseExpression) -> Optional[str]:
        return self.imports.qualname(node)

    def value_of(self, node: cst.BaseExpression) -> Optional[Value]:
        if (self.frozen_paths[-1] or self.branch_frozen) and isinstance(node, (cst.Name, cst.Attribute)) \
                and self.is_frozen_path(dotted(node)):
            return None  # requires_grad was switched off on this path (earlier, or by the branch taken)
        if isinstance(node, cst.Name):
            value = self.lookup(node.value)
            if "*" in self.frozen_paths[-1] and isinstance(value, (ModuleInstance, ParamItem)):
                return None  # some module's parameters were frozen through a loop: which, we cannot tell
            return value
        if isinstance(node, cst.Attribute):
            attr = node.attr.value
            if attr == "data":
                return DataOf(self.value_of(node.value), dotted(node.value), node)
            base = self.value_of(node.value)
            if attr in ("grad", "weight_norm"):
                return None
            if attr == "param_groups":
                return GroupList()
            if base is None or isinstance(base, ParamName):
                return None  # unknown, or a string (a parameter's name)
            if isinstance(base, DataOf):
                return DataOf(base.base, base.path, base.node) if attr in api.VIEW_ATTRIBUTES else None
            if attr in api.VIEW_ATTRIBUTES:
                return View(base)
            if isinstance(base, (SelfRef, Attr, ModuleInstance, Item)) or (
                    isinstance(base, View) and not unknown_root(base) and not isinstance(base.base, (ParamItem, Fresh))):
                return Attr(base, attr)
            if arg_path(base):
                return Attr(base, attr)  # ``model.layers[i].fc`` of a parameter ``model``
            return None
        if isinstance(node, cst.Subscript):
            base = self.value_of(node.value)
            if base is None or isinstance(base, ParamName):
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
            if isinstance(base, (TensorList, DictOf)):
                return Key(base, literal_key(node))  # one element of a list or dict built here
            if isinstance(base, DataOf):
                return base if view_index(node) else PlainTensor()
            if view_index(node):
                return View(base)
            if arg_path(base):
                return Key(base, literal_key(node))  # ``edge["alpha"]`` of a parameter ``edge``
            return None if unknown_root(base) else PlainTensor()
        if isinstance(node, cst.Call):
            return self._call_value(node)
        if isinstance(node, (cst.BinaryOperation, cst.UnaryOperation)):
            operands = [node.left, node.right] if isinstance(node, cst.BinaryOperation) else [node.expression]
            if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Add):
                joined = [v for v in map(self.value_of, operands) if isinstance(v, ParamIter)]
                if joined:  # ``list(m.parameters()) + list(m.buffers())``: a list that holds parameters
                    bases = {v.base for v in joined}
                    return ParamIter(bases.pop() if len(bases) == 1 else None, named=joined[0].named)
            for operand in operands:
                if not unknown_root(self.value_of(operand)):
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
        if isinstance(node, cst.Dict):
            entries = []
            for element in node.elements:
                if not isinstance(element, cst.DictElement):
                    return None  # ``{**other}``: what it holds is not known
                key = element.key.value[1:-1] if isinstance(element.key, cst.SimpleString) else None
                entries.append((key, self.value_of(element.value)))
            return DictOf(tuple(entries))
        return None

    def _class_instance(self, node: cst.BaseExpression) -> Optional[ModuleInstance]:
        qual = self.qualname(node)
        layer = api.torch_nn_layer(qual)
        if layer is not None:
            return ModuleInstance(("torch", layer))
        if isinstance(node, cst.Name) and node.value in self.classes:
            return ModuleInstance(("local", node.value))
        pid = self.project.class_id(qual) if self.project is not None else None
        if pid is not None:
            return ModuleInstance(("local", pid))
        return None

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

    def module_output(self, func: cst.BaseExpression) -> Optional[Value]:
        """What calling a module gives, when its instance may make it a leaf (``model.hooks``)."""
        return None

    def _call_value(self, node: cst.Call) -> Optional[Value]:
        value = self._call_result(node)
        return value if value is not None else self.module_output(node.func)

    def _call_result(self, node: cst.Call) -> Optional[Value]:
        func = node.func
        if isinstance(func, cst.Attribute):
            method = func.attr.value
            if method == "parameters":
                return ParamIter(self.value_of(func.value))
            if method == "named_parameters":
                prefixed = positional(node, 0) is not None or kwarg(node, "prefix") is not None
                return ParamIter(self.value_of(func.value), named=True, prefixed=prefixed)
            receiver = self.value_of(func.value)
            if isinstance(receiver, ParamName):
                return None  # a string method on a parameter's name
            if isinstance(receiver, ModuleInstance) and method in api.MODULE_RETURNS_SELF:
                return receiver
            owner = receiver.kind[1] if isinstance(receiver, ModuleInstance) and receiver.kind[0] == "local" else (
                func.value.value if receiver is None and isinstance(func.value, cst.Name) else None)
            if owner is not None and owner in self.classes:
                summary = self.method_summary(owner, method)  # ``lif.init_state()``, ``Cls.make(..)``
                if summary is not None:
                    return summary
            if method == "values" and isinstance(receiver, DictOf):
                return mapping_values(receiver)
            if method == "values" and arg_path(receiver):
                return Values(receiver)  # ``edges.values()`` of a parameter: its values, not its keys
            if method in ("values", "children", "modules") and not unknown_root(receiver):
                return receiver  # iterating it gives its elements; indexing is not done on these
            if method in api.VIEW_METHODS and receiver is not None:
                if isinstance(receiver, (DataOf, PlainTensor)):
                    return receiver
                if isinstance(receiver, (ModuleInstance, ParamIter, TensorList)):
                    return None
                return View(receiver)
            if method == "requires_grad_":
                flag = positional(node, 0) or (kwarg(node, "requires_grad") or cst.Arg(cst.Name("True"))).value
                if is_true(flag) and isinstance(receiver, (PlainTensor, Fresh)):
                    return Fresh("requires_grad_()")
                if is_true(flag) and receiver is None and (
                        self._is_torch_tensor_call(func.value) or self._is_tensor_copy(func.value)):
                    return Fresh("requires_grad_()")
                if isinstance(receiver, ModuleInstance) and is_true(flag) is False:
                    return ModuleInstance(receiver.kind, receiver.inplace, frozen=True)
                return None
            if method == "detach":
                return PlainTensor()  # whatever it detaches: a tensor that does not require grad
            if method in api.TENSOR_COPY_METHODS:
                known = not unknown_root(receiver) or self._is_torch_tensor_call(func.value)
                return PlainTensor() if known else None
            qual = self.qualname(func)
            table = api.torch_nn_layer(self.qualname(func.value)) if method == "from_pretrained" else None
            if table in ("Embedding", "EmbeddingBag"):
                return _pretrained_table(table, node)
            tree = module_tree_factory(qual, func)
            if tree is not None:
                return ModuleInstance(("tree", tree))
            if isinstance(receiver, PlainTensor) and api.returns_tensor(method):
                return PlainTensor()  # ``(a - b).sqrt().clamp(min=e)``: a tensor op on a plain tensor
        else:
            qual = self.qualname(func)
            if qual is None and isinstance(func, cst.Name):
                cls = self.classes.get(func.value)
                if cls is not None and cls.is_parameter_class:
                    return self._parameter_value(node, custom_new=cls.defines_new, subclass=True)
                if cls is not None and any(b in api.DICT_CLASSES for b in cls.bases) and not node.args:
                    return DictOf()  # ``class EdgeData(dict)``: a dict, not a module
                if cls is not None:
                    return ModuleInstance(("local", func.value),
                                          inplace=is_true((kwarg(node, "inplace") or cst.Arg(cst.Name("False"))).value) is True)
                if func.value in ("list", "tuple") and node.args:
                    inner = self.value_of(node.args[0].value)
                    return inner if isinstance(inner, ParamIter) else None
                if func.value == "dict" and not node.args and self.lookup("dict") is None:
                    return DictOf()
                return self.call_summary(func.value, node)
            tree = module_tree_factory(qual, func)
            if tree is not None:
                return ModuleInstance(("tree", tree))
        if qual is None:
            return None
        found = self.project.resolve(qual) if self.project is not None else None
        if found is not None:
            return self._project_call(node, found)
        if qual in api.PARAMETER:
            return self._parameter_value(node)
        if qual in api.DICT_CLASSES and not node.args:
            return DictOf()
        if qual in api.BUFFER:
            return None
        layer = api.torch_nn_layer(qual)
        if layer is not None:
            inplace = kwarg(node, "inplace")
            item = self._container_items(node) if layer in api.MODULE_CONTAINERS else None
            return ModuleInstance(("torch", layer), inplace=inplace is not None and is_true(inplace.value) is True,
                                  item=item, frozen=not _affine(layer, node))
        if qual.startswith("torch.") and not qual.startswith("torch.nn.") or qual.startswith("torch.nn.functional."):
            name = qual.rsplit(".", 1)[-1]
            if name in api.FACTORIES or qual.count(".") == 1:
                rg = kwarg(node, "requires_grad")
                if rg is not None and is_true(rg.value):
                    return Fresh(f"{qual}(..., requires_grad=True)")
                if rg is not None and is_true(rg.value) is None:
                    flag = dotted(rg.value)
                    return Fresh(f"{qual}(..., requires_grad={flag})", when=flag) if flag else None
            if name[:1].islower():
                return PlainTensor()
        return None

    def _project_call(self, node: cst.Call, found: tuple[str, str]) -> Optional[Value]:
        """A call of a class or a function defined in another module of the project."""
        kind, pid = found
        if kind == "function":
            return self.project.returns(pid)  # type: ignore[union-attr]
        cls = self.classes.get(pid) if kind == "class" else None
        if cls is None:
            return None
        if cls.is_parameter_class:
            return self._parameter_value(node, custom_new=cls.defines_new, subclass=True)
        return ModuleInstance(("local", pid),
                              inplace=is_true((kwarg(node, "inplace") or cst.Arg(cst.Name("False"))).value) is True)

    def _parameter_value(self, node: cst.Call, custom_new: bool = False, subclass: bool = False) -> Optional[Value]:
        """``nn.Parameter(t[, requires_grad])`` or a subclass of it (whose ``__new__`` may decide).

        ``nn.Parameter(t, requires_grad=flag)`` is a leaf that requires grad when the flag is true;
        a subclass given a flag is not claimed (its own ``__new__``/``__init__`` and the code around
        it often decide: bitsandbytes' ``Int8Params(requires_grad=has_fp16_weights)`` is written
        only on the branch where that flag is false, through another name)."""
        rg = kwarg(node, "requires_grad")
        flag = rg.value if rg is not None else positional(node, 1)
        if not subclass and flag is not None and is_true(flag) is None and dotted(flag) is not None:
            return Fresh("nn.Parameter(...)", when=dotted(flag))
        if flag is not None and is_true(flag) is not True:
            return FrozenParameter()
        if custom_new and flag is None:
            return None
        return Fresh("nn.Parameter(...)")

    def _container_items(self, node: cst.Call) -> Optional[ModuleInstance]:
        """The kind of every element of ``nn.ModuleList([...])`` / ``nn.Sequential(a, b)`` /
        ``nn.ModuleDict({...})``, when they are all the same kind."""
        first = positional(node, 0)
        if isinstance(first, (cst.ListComp, cst.GeneratorExp)):
            values = [self.value_of(first.elt)]
        elif isinstance(first, cst.DictComp):
            values = [self.value_of(first.value)]
        elif isinstance(first, cst.Dict):
            values = [self.value_of(e.value) for e in first.elements if isinstance(e, cst.DictElement)]
        elif isinstance(first, (cst.List, cst.Tuple)):
            values = [self.value_of(e.value) for e in first.elements if isinstance(e, cst.Element)]
        elif any(a.star for a in node.args):
            return None
        else:  # nn.Sequential(a, b, c)
            values = [self.value_of(a.value) for a in node.args if a.keyword is None]
        if values and isinstance(values[0], ModuleInstance) and all(v == values[0] for v in values):
            return values[0]
        return None

    @staticmethod
    def _is_tensor_copy(node: cst.BaseExpression) -> bool:
        """``x.clone()``, ``x[i].float()``, ...: a new tensor copied from ``x``.

        Turning requires_grad on for it (``x.clone().requires_grad_()``) makes a leaf: on a copy
        of a tensor that already required grad the call would do nothing, so code that makes it
        says the copy did not."""
        return isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) \
            and node.func.attr.value in api.TENSOR_COPY_METHODS | {"detach"}

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
            if not source.named:
                return item
            return TensorList((None if source.prefixed else ParamName(source.base), item))
        if isinstance(source, GroupList):
            return GroupItem()
        if isinstance(source, TensorList):
            return Item(source)  # one of the listed values (``for p in [w, b]``, ``for t in args``)
        if isinstance(source, DictOf):
            return None  # its keys
        if isinstance(source, (ModuleInstance, Attr, Item)) or (
                isinstance(source, View) and not unknown_root(source)):
            return Item(source)  # an element of a module container (``nn.ModuleList``), if it is one
        if isinstance(iterable, cst.Call) and isinstance(iterable.func, cst.Attribute) \
                and iterable.func.attr.value == "items":
            mapping = self.value_of(iterable.func.value)
            if isinstance(mapping, DictOf):
                return TensorList((None, Item(mapping_values(mapping))))
            if arg_path(mapping):
                return TensorList((None, Item(Values(mapping))))
            if not unknown_root(mapping):
                return TensorList((None, Item(mapping)))
            return None
        if arg_path(source):
            return Item(source)  # an element of a parameter (a list of tensors, ``*args``)
        return None

    def _bind_target(self, target: cst.BaseExpression, value: Optional[Value]) -> None:
        if isinstance(target, cst.Name):
            self.bind(target.value, value)
        elif isinstance(target, (cst.Tuple, cst.List)):
            items = value.items if isinstance(value, TensorList) else ()
            for i, element in enumerate(target.elements):
                sub = items[i] if i < len(items) and not isinstance(element, cst.StarredElement) else None
                self._bind_target(element.value, sub)

    def graph_sources(self, node: cst.BaseExpression) -> Iterator[tuple[Value, cst.CSTNode]]:
        """Sub-expressions of a value that may carry a graph (not under .data/.detach())."""
        stack = [node]
        while stack:
            n = stack.pop()
            if isinstance(n, (cst.Name, cst.Attribute, cst.Subscript)):
                if isinstance(n, cst.Attribute) and n.attr.value in ("data", "grad", "shape", "dtype", "device"):
                    continue
                value = self.value_of(n)
                if value is not None and not isinstance(value, (DataOf, PlainTensor, ParamName)):
                    yield value, n
                    continue
                if isinstance(n, cst.Subscript):
                    stack.append(n.value)
            else:
                stack.extend(graph_operands(n, STOP_GRAPH_METHODS))

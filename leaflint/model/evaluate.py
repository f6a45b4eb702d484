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
from leaflint.model.syntax import is_true, kwarg, positional, view_index
from leaflint.model.values import (
    Attr, DataOf, Fresh, FrozenParameter, GroupItem, GroupList, ModuleInstance, ParamItem, ParamIter,
    PlainTensor, SelfRef, TensorList, Value, View,
)

STOP_GRAPH_METHODS = {"detach", "item", "tolist", "numpy", "cpu", "data_ptr", "size", "dim",
                       "numel", "clone"}


class Evaluator:
    imports: ImportTable
    classes: dict[str, ClassInfo]
    frozen_paths: list[set[str]]

    def lookup(self, name: str) -> Optional[Value]:
        raise NotImplementedError

    def qualname(self, node: cst.BaseExpression) -> Optional[str]:
        return self.imports.qualname(node)

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
                return base if view_index(node) else PlainTensor()
            if view_index(node):
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
                flag = positional(node, 0) or (kwarg(node, "requires_grad") or cst.Arg(cst.Name("True"))).value
                if is_true(flag) and isinstance(receiver, (PlainTensor, Fresh)):
                    return Fresh("requires_grad_()")
                if is_true(flag) and receiver is None and self._is_torch_tensor_call(func.value):
                    return Fresh("requires_grad_()")
                if isinstance(receiver, ModuleInstance) and is_true(flag) is False:
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
                                          inplace=is_true((kwarg(node, "inplace") or cst.Arg(cst.Name("False"))).value) is True)
                if func.value in ("list", "tuple") and node.args:
                    inner = self.value_of(node.args[0].value)
                    return inner if isinstance(inner, ParamIter) else None
                return None
        if qual is None:
            return None
        if qual in api.PARAMETER:
            rg = kwarg(node, "requires_grad")
            flag = rg.value if rg is not None else positional(node, 1)
            if flag is not None and is_true(flag) is not True:
                return FrozenParameter()
            return Fresh("nn.Parameter(...)")
        if qual in api.BUFFER:
            return None
        layer = api.torch_nn_layer(qual)
        if layer is not None:
            inplace = kwarg(node, "inplace")
            return ModuleInstance(("torch", layer), inplace=inplace is not None and is_true(inplace.value) is True)
        if qual.startswith("torch.") and not qual.startswith("torch.nn.") or qual.startswith("torch.nn.functional."):
            name = qual.rsplit(".", 1)[-1]
            if name in api.FACTORIES or qual.count(".") == 1:
                rg = kwarg(node, "requires_grad")
                if rg is not None and is_true(rg.value):
                    return Fresh(f"{qual}(..., requires_grad=True)")
                if rg is not None and is_true(rg.value) is None:
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

    def graph_sources(self, node: cst.BaseExpression) -> Iterator[tuple[Value, cst.CSTNode]]:
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
                    if n.func.attr.value in STOP_GRAPH_METHODS:
                        continue
                    stack.append(n.func.value)
                stack.extend(a.value for a in n.args)
            elif isinstance(n, cst.BinaryOperation):
                stack.extend((n.left, n.right))
            elif isinstance(n, cst.UnaryOperation):
                stack.append(n.expression)
            elif isinstance(n, cst.IfExp):
                stack.extend((n.body, n.orelse))

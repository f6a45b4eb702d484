"""Small questions about libcst nodes: literal flags, call arguments, index kinds."""

from __future__ import annotations

from typing import Iterator, Optional

import libcst as cst


AUG_INPLACE = {
    "AddAssign", "SubtractAssign", "MultiplyAssign", "DivideAssign", "FloorDivideAssign",
    "PowerAssign", "ModuloAssign", "BitAndAssign", "BitOrAssign", "BitXorAssign",
    "LeftShiftAssign", "RightShiftAssign",
}


def is_true(node: Optional[cst.BaseExpression]) -> Optional[bool]:
    if isinstance(node, cst.Name) and node.value in ("True", "False"):
        return node.value == "True"
    return None


def kwarg(call: cst.Call, name: str) -> Optional[cst.Arg]:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == name:
            return arg
    return None


def positional(call: cst.Call, index: int) -> Optional[cst.BaseExpression]:
    i = 0
    for arg in call.args:
        if arg.keyword is None and not arg.star:
            if i == index:
                return arg.value
            i += 1
    return None


def graph_operands(node: cst.CSTNode, stop_methods) -> list[cst.BaseExpression]:
    """The operands a call or an operator computes its value from, in the order the graph walks
    push them (``model.roots.graph_roots``, ``Evaluator.graph_sources``): a method call's
    receiver then its arguments (none through a method in ``stop_methods``, ``x.detach()``), a
    function call's arguments, both sides of a binary operation, a unary operation's operand,
    both branches of a conditional expression. [] for anything else."""
    if isinstance(node, cst.Call):
        operands: list[cst.BaseExpression] = []
        if isinstance(node.func, cst.Attribute):
            if node.func.attr.value in stop_methods:
                return []
            operands.append(node.func.value)
        return operands + [arg.value for arg in node.args]
    if isinstance(node, cst.BinaryOperation):
        return [node.left, node.right]
    if isinstance(node, cst.UnaryOperation):
        return [node.expression]
    if isinstance(node, cst.IfExp):
        return [node.body, node.orelse]
    return []


def names_in(node: cst.CSTNode) -> Iterator[str]:
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


def view_index(node: cst.Subscript) -> bool:
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


def index_kind(node: cst.Subscript) -> str:
    """What ``base[...]`` says about ``base``, from the index alone:

    - ``"key"``: a string key (``d["x"]``): ``base`` is a mapping, not a tensor;
    - ``"tensor"``: several indices, ``None`` or ``...`` (``h[:, t]``, ``x[None]``): only a tensor
      (or an array) is indexed so, and the result is a view;
    - ``"basic"``: one int, name or slice (``xs[i]``, ``xs[1:]``): a view of a tensor, or an
      element (a slice copy) of a list;
    - ``"advanced"``: anything else (a mask, a list of indices): a copy.
    """
    for element in node.slice:
        sl = element.slice
        if isinstance(sl, cst.Index) and isinstance(sl.value, (cst.SimpleString, cst.ConcatenatedString,
                                                                cst.FormattedString)):
            return "key"
    if not all(_basic_element(element.slice) for element in node.slice):
        return "advanced"
    if len(node.slice) > 1:
        return "tensor"
    sl = node.slice[0].slice
    if isinstance(sl, cst.Index) and (isinstance(sl.value, cst.Ellipsis)
                                      or (isinstance(sl.value, cst.Name) and sl.value.value == "None")):
        return "tensor"
    return "basic"


def _basic_element(sl: cst.BaseSlice) -> bool:
    """One element of a basic index: a slice, an int, None, ``...``, or an int-valued expression
    (a name, an attribute, ``t - 1``), as ``view_index`` assumes for names."""
    if isinstance(sl, cst.Slice):
        return True
    value = sl.value
    while isinstance(value, cst.BinaryOperation) and isinstance(
            value.operator, (cst.Add, cst.Subtract, cst.Multiply, cst.FloorDivide, cst.Modulo)):
        if not _int_like(value.right):
            return False
        value = value.left
    return _int_like(value) or isinstance(value, cst.Ellipsis) or (isinstance(value, cst.Name) and value.value == "None")


def _int_like(value: cst.BaseExpression) -> bool:
    if isinstance(value, cst.UnaryOperation) and isinstance(value.operator, (cst.Minus, cst.Plus)):
        value = value.expression  # ``-1``; not ``~mask``
    return isinstance(value, (cst.Integer, cst.Name, cst.Attribute)) and not (
        isinstance(value, cst.Name) and value.value in ("None", "True", "False"))


def argument_for(params: list[str], call: cst.Call, param: str) -> Optional[cst.BaseExpression]:
    """The expression ``call`` passes for the parameter ``param`` of a callee whose parameters
    (``self`` left out) are ``params``, when it is plain to see (no ``*args`` before it)."""
    for position, arg in enumerate(call.args):
        if arg.star:
            return None
        if arg.keyword is not None:
            if arg.keyword.value == param:
                return arg.value
        elif position < len(params) and params[position] == param:
            return arg.value
    return None


def parameters_slot(target: cst.BaseExpression) -> Optional[tuple[cst.BaseExpression, str]]:
    """``(m, "w")`` for the target ``m._parameters["w"]`` (``"<name>"`` for a computed key), else None."""
    if not (isinstance(target, cst.Subscript) and isinstance(target.value, cst.Attribute)
            and target.value.attr.value == "_parameters"):
        return None
    key = target.slice[0].slice if len(target.slice) == 1 else None
    name = key.value.value.strip("'\"") if isinstance(key, cst.Index) and isinstance(key.value, cst.SimpleString) \
        else "<name>"
    return target.value.value, name


def contains(root: cst.CSTNode, node: Optional[cst.CSTNode]) -> bool:
    """Whether ``node`` (by identity) is ``root`` or inside it."""
    stack = [root]
    while stack:
        current = stack.pop()
        if current is node:
            return True
        stack.extend(current.children)
    return False

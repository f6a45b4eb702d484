"""LL3 fixes. ``self.lin.weight = nn.Parameter(expr)`` followed by calls ``self.lin(x)`` in the
same forward becomes ``F.linear(x, expr, self.lin.bias)`` (``F.conv1d/2d/3d`` with the layer's
stride, padding, dilation and groups), unsafe. A plain tensor assigned over a Parameter (LL303)
is wrapped in ``nn.Parameter`` in ``__init__`` or module surgery, else copied in under no_grad."""

from __future__ import annotations

from typing import Optional

import libcst as cst

from leaflint.findings import Applicability, Edit, Fix, Position
from leaflint.fix.context import FixContext, LazyFix
from leaflint.fix.data import changes_layout, copy_subs
from leaflint.fix.nodes import (
    DEFERRED, REPEATED_OR_CONDITIONAL, binding_targets, dotted_or_none, path_to, single_statement, walk_with_parents,
)
from leaflint.fix.wrap import no_grad_fix
from leaflint.model.imports import dotted


_CONV = {"Conv1d": "conv1d", "Conv2d": "conv2d", "Conv3d": "conv3d"}


def _parameter_call_value(model, node: cst.BaseExpression) -> Optional[cst.BaseExpression]:
    """``expr`` of ``nn.Parameter(expr)`` (requires_grad left as default or True)."""
    if not isinstance(node, cst.Call) or model.imports.qualname(node.func) not in ("torch.nn.Parameter",
                                                                                    "torch.nn.parameter.Parameter"):
        return None
    value = None
    for index, arg in enumerate(node.args):
        if arg.star:
            return None
        if arg.keyword is None and index == 0:
            value = arg.value
        elif arg.keyword is not None and arg.keyword.value == "data":
            value = arg.value
        elif (arg.keyword is not None and arg.keyword.value == "requires_grad") or (arg.keyword is None and index == 1):
            if not (isinstance(arg.value, cst.Name) and arg.value.value == "True"):
                return None
        else:
            return None
    return value


def _conv_constructor_ok(model, owner) -> bool:
    """The conv layer was built with the default zero padding mode (what F.convNd does)."""
    found = False
    for assign in model.attr_assigns:
        if assign.attr != getattr(owner, "name", None) or assign.owner != getattr(owner, "base", None):
            continue
        call = assign.value_node
        if not isinstance(call, cst.Call):
            return False
        positional = 0
        for arg in call.args:
            if arg.star:
                return False
            if arg.keyword is None:
                positional += 1
            elif arg.keyword.value == "padding_mode" and not (
                    isinstance(arg.value, cst.SimpleString) and arg.value.value.strip("'\"") == "zeros"):
                return False
        if positional > 8:
            return False
        found = True
    return found


def build_param_replaced_fix(model, assign) -> Optional[LazyFix]:
    """LL301, the seed pattern: ``self.lin.weight = nn.Parameter(expr)`` then ``self.lin(x)``
    -> ``F.linear(x, expr, self.lin.bias)`` (or the layer's ``F.convNd``)."""
    stmt = assign.ctx.stmt
    func = assign.ctx.func.node
    if not single_statement(stmt) or func is None or not isinstance(func.body, cst.IndentedBlock):
        return None
    small = stmt.body[0]
    node = assign.node
    if isinstance(node, cst.Assign):
        if small is not node or len(node.targets) != 1:
            return None
    elif isinstance(node, cst.Call):
        if not (isinstance(small, cst.Expr) and small.value is node and isinstance(node.func, cst.Name)
                and node.func.value == "setattr"):
            return None
    else:
        return None
    body = list(func.body.body)
    index = next((i for i, s in enumerate(body) if s is stmt), None)
    if index is None:
        return None  # not a top-level statement of the function
    expr = _parameter_call_value(model, assign.value_node)
    module = model.module_of(assign.owner)
    if expr is None or module is None or module.kind[0] != "torch" or assign.attr not in ("weight", "bias"):
        return None
    kind = module.kind[1]
    if kind != "Linear" and (kind not in _CONV or not _conv_constructor_ok(model, assign.owner)):
        return None
    owner = dotted(assign.owner_node)
    if owner is None:
        return None
    calls: list[tuple[cst.Call, int]] = []
    for offset, later in enumerate(body[index + 1:], start=index + 1):
        for found, parent in walk_with_parents(later):
            if dotted_or_none(found) != owner:
                continue
            if not (isinstance(parent, cst.Call) and parent.func is found and len(parent.args) == 1
                    and parent.args[0].keyword is None and not parent.args[0].star):
                return None  # the layer is used otherwise: its replaced parameter may be read
            calls.append((parent, offset))
    if not calls:
        return None
    if isinstance(expr, cst.Name):
        if any(expr.value in names for later in body[index + 1:] for names in binding_targets(later)):
            return None
    else:
        # an expression is evaluated once, right after the assignment: so must its new place be
        if len(calls) != 1 or calls[0][1] != index + 1:
            return None
        path = path_to(body[index + 1], calls[0][0])
        if path is None or any(isinstance(n, REPEATED_OR_CONDITIONAL + DEFERRED) for n in path[:-1]):
            return None

    def make(context: FixContext) -> Optional[Fix]:
        functional, imports = context.functional_name(func)
        if functional is None:
            return None
        value = context.code(expr)
        weight, bias = (value, f"{owner}.bias") if assign.attr == "weight" else (f"{owner}.weight", value)
        start, end = context.start(stmt), context.end(stmt)
        edits = [Edit(Position(start.row, 1), Position(end.row + 1, 1), "")]
        for call, _ in calls:
            x = context.code(call.args[0].value).strip()
            if kind == "Linear":
                text = f"{functional}.linear({x}, {weight}, {bias})"
            else:
                text = (f"{functional}.{_CONV[kind]}({x}, {weight}, {bias}, {owner}.stride, {owner}.padding, "
                        f"{owner}.dilation, {owner}.groups)")
            edits.append(Edit(context.start(call), context.end(call), text))
        name = "linear" if kind == "Linear" else _CONV[kind]
        return Fix(f"Call `{functional}.{name}` with the new {assign.attr} instead of replacing the Parameter "
                   f"(unsafe: `{owner}`'s hooks do not run; its other uses see the original {assign.attr})",
                   Applicability.UNSAFE, edits + imports)

    return LazyFix(make)


def build_tensor_to_param_fix(model, assign) -> Optional[LazyFix]:
    """LL303: ``self.w = tensor`` over a Parameter -> ``nn.Parameter(tensor)`` in ``__init__`` (or
    when the value is built from the Parameter itself: module surgery), else an in-place copy
    under no_grad (the optimizer keeps the same Parameter object)."""
    if model.in_forward(assign.ctx):
        return None
    stmt = assign.ctx.stmt
    node = assign.node
    if not (single_statement(stmt) and isinstance(node, cst.Assign) and stmt.body[0] is node
            and len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Attribute)):
        return None
    target = node.targets[0].target
    value = node.value
    target_text = dotted(target)
    if target_text is None:
        return None
    requires_grad = model.parameter_slot(assign.owner, assign.attr)
    mentions_target = any(dotted_or_none(n) == target_text for n, _ in walk_with_parents(value))
    if (assign.ctx.func.name == "__init__" or mentions_target) and requires_grad is not None:
        extra = "" if requires_grad else ", requires_grad=False"

        def make(context: FixContext) -> Optional[Fix]:
            nn, imports = context.nn_name()
            if nn is None:
                return None
            text = f"{nn}.Parameter({context.code(value)}{extra})"
            edit = Edit(context.start(value, outer=True), context.end(value, outer=True), text)
            return Fix(f"Wrap the value in `{nn}.Parameter(...)` (unsafe: a new Parameter object, which an optimizer "
                       f"built before this line does not hold)", Applicability.UNSAFE, [edit] + imports)

        return LazyFix(make)
    if mentions_target or changes_layout(value):
        return None
    return no_grad_fix(model, assign.ctx, stmt,
                        f"Replace with `with torch.no_grad(): {target_text}.copy_(...)` (unsafe: the value must have "
                        f"the same shape and dtype as the Parameter)",
                        copy_subs(target, value), Applicability.UNSAFE)

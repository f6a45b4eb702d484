"""LL2 fixes. ``x.data = v`` becomes ``with torch.no_grad(): x.copy_(v)`` and ``x.data.op_()``
becomes ``with torch.no_grad(): x.op_()`` (unsafe), only where the write is a plain update: not
in forward and not in one of LL201's contexts, where the same rewrite would keep the bug (the
value's producers still get no gradient) or turn it into an error at ``backward()``. A write
between a forward and its ``backward()`` moves after it. A ``.data`` read in forward (LL203)
loses its ``.data`` (unsafe: the parameter starts to train through that use)."""

from __future__ import annotations

from typing import Callable, Optional

import libcst as cst

from leaflint.findings import Applicability, Edit, Fix, Position
from leaflint.fix.context import FixContext, LazyFix
from leaflint.fix.nodes import dotted_or_none, in_deferred_scope, path_to, single_statement, walk_with_parents
from leaflint.fix.wrap import Sub, no_grad_fix
from leaflint.model.imports import dotted
from leaflint.model.judge import harmful_reason
from leaflint.model.walk import children


# Methods (and attributes) whose result may differ from the target in shape, dtype, device or
# memory layout: `x.data = x.data.half()` is a cast that `x.copy_(...)` would silently undo.
_LAYOUT_METHODS = frozenset({
    "to", "type", "type_as", "float", "double", "half", "bfloat16", "int", "long", "short", "bool",
    "byte", "char", "cpu", "cuda", "contiguous", "pin_memory", "view", "view_as", "reshape",
    "reshape_as", "t", "transpose", "permute", "expand", "expand_as", "repeat", "flatten",
    "unflatten", "squeeze", "unsqueeze", "narrow", "to_sparse", "to_dense", "coalesce",
})


LAYOUT_ATTRIBUTES = frozenset({"T", "mT", "H", "mH", "real", "imag"})


# ... and functions or methods whose result generally has another shape than their input.
_SHAPE_CHANGING = _LAYOUT_METHODS | frozenset({
    "sum", "mean", "max", "min", "prod", "std", "var", "norm", "amax", "amin", "argmax", "argmin", "all",
    "any", "median", "mode", "logsumexp", "cat", "concat", "concatenate", "stack", "hstack", "vstack", "split",
    "chunk", "matmul", "mm", "bmm", "mv", "einsum", "outer", "kron", "tensordot", "repeat_interleave", "tile",
    "index_select", "gather", "masked_select", "nonzero", "unique", "topk", "diag", "pad", "interpolate",
    "cumsum", "new_empty", "new_zeros", "new_ones", "new_full", "new_tensor", "item", "tolist", "numpy",
})


def changes_layout(value: cst.BaseExpression) -> bool:
    """The value may differ from the target in shape, dtype, device or layout."""
    if isinstance(value, cst.Subscript):
        return True
    if isinstance(value, cst.Attribute) and value.attr.value in LAYOUT_ATTRIBUTES:
        return True
    if isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute) \
            and value.func.attr.value in _LAYOUT_METHODS:
        return True
    return False


def _elementwise_update_of(value: cst.BaseExpression, path: Optional[str]) -> bool:
    """``value`` is computed from the tensor at ``path`` itself with no op known to change its
    shape, dtype or layout (`p - lr * p.grad`, `w.data + eps * d`, `torch.renorm(w.detach(), ...)`):
    copying it back in place is then what `.data =` did. A value from elsewhere (`= kernel`, a
    resized table, a quantized copy) may differ in shape or dtype: no fix."""
    if path is None:
        return False
    mentions = False
    stack: list[cst.CSTNode] = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.SubscriptElement):
            continue  # `cache[p]`: an index is not where the value comes from
        stack.extend(children(node))
        name = dotted_or_none(node)
        if name == path:
            mentions = True
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.MatrixMultiply):
            return False
        if isinstance(node, cst.Subscript) and dotted_or_none(node.value) in (path, f"{path}.data"):
            return False
        if isinstance(node, cst.Attribute) and node.attr.value in LAYOUT_ATTRIBUTES:
            return False
        if isinstance(node, cst.Call):
            func = node.func
            last = func.attr.value if isinstance(func, cst.Attribute) else func.value if isinstance(func, cst.Name) else ""
            if last in _SHAPE_CHANGING:
                return False
    return mentions


def _data_attribute(stmt: cst.CSTNode, target: cst.CSTNode) -> Optional[cst.Attribute]:
    """The ``target.data`` node inside ``stmt``."""
    for node, _ in walk_with_parents(stmt):
        if isinstance(node, cst.Attribute) and node.value is target and node.attr.value == "data":
            return node
    return None


def copy_subs(target: cst.BaseExpression, value: cst.BaseExpression) -> Callable[[FixContext], list[Sub]]:
    """``target = value`` -> ``target.copy_(value)`` (``target`` without a trailing ``.data``)."""

    def subs(context: FixContext) -> list[Sub]:
        after_target = context.end(target, outer=True)
        value_start, value_end = context.start(value, outer=True), context.end(value, outer=True)
        return [Sub(after_target, value_start, ".copy_("), Sub(value_end, value_end, ")")]

    return subs


def build_data_write_fix(model, write) -> Optional[LazyFix]:
    """LL202 (a ``.data`` write in none of LL201's contexts): write under no_grad instead."""
    if model.in_forward(write.ctx) or harmful_reason(model, write) is not None:
        return None
    stmt = write.ctx.stmt
    target = write.target_node
    if not single_statement(stmt) or target is None:
        return None
    path = path_to(stmt, write.node)
    if path is None or in_deferred_scope(path):
        return None
    attribute = _data_attribute(stmt, target)
    if attribute is None:
        return None  # written through an alias (`w = p.data; w.zero_()`)
    text = model.text(target)
    if write.kind == "assign":
        assign = write.node
        if not (isinstance(assign, cst.Assign) and stmt.body[0] is assign and len(assign.targets) == 1
                and assign.targets[0].target is attribute) or not _elementwise_update_of(assign.value, dotted(target)):
            return None
        return no_grad_fix(model, write.ctx, stmt,
                            f"Replace with `with torch.no_grad(): {text}.copy_(...)` (unsafe: the value must have "
                            f"the same shape and dtype as `{text}`; copy_ keeps the tensor's own)",
                            copy_subs(target, assign.value), Applicability.UNSAFE)

    def subs(context: FixContext) -> list[Sub]:
        return [Sub(context.end(target, outer=True), context.end(attribute), "")]

    return no_grad_fix(model, write.ctx, stmt,
                        f"Write to `{text}` under `with torch.no_grad():` instead of through `.data`", subs, Applicability.UNSAFE)


def build_move_after_backward_fix(model, write, plan) -> Optional[LazyFix]:
    """LL201 between a forward and its ``backward()`` (``plan``: ``leaflint.blocks.MovePlan``):
    move the write (or the loop of writes around it) to right after the ``backward()`` call, or
    after the optimizer's ``step()`` that follows it. Unsafe: what the write does to the
    parameters now happens after the update."""
    unit, after = plan.unit, plan.after
    where = f"`{model.text(plan.backward)}`" + (f" and `{model.text(plan.step)}`" if plan.step is not None else "")

    def make(context: FixContext) -> Optional[Fix]:
        start, end = context.start(unit), context.end(unit)
        if context.line(start.row)[: start.column - 1].strip() or not _alone_after(context, end):
            return None  # shares a line with another statement
        anchor = context.end(after)
        if not _alone_after(context, anchor):
            return None
        rows = [context.line(r) for r in range(start.row, end.row + 1)]
        moved = context.newline.join(rows)
        remove = Edit(Position(start.row, 1), Position(end.row + 1, 1), "")
        if anchor.row < len(context.lines):
            insert = Edit(Position(anchor.row + 1, 1), Position(anchor.row + 1, 1), moved + context.newline)
        else:  # the anchor is the file's last line
            at = Position(anchor.row, len(context.line(anchor.row)) + 1)
            insert = Edit(at, at, context.newline + moved)
        return Fix(f"Move the write after {where} (unsafe: the write then applies to the values after the update)",
                   Applicability.UNSAFE, [remove, insert])

    return LazyFix(make)


def _alone_after(context: FixContext, end: Position) -> bool:
    """Nothing but a comment follows ``end`` on its line."""
    rest = context.line(end.row)[end.column - 1:].strip()
    return not rest or rest.startswith("#")


def build_data_read_fix(model, read) -> Optional[LazyFix]:
    """LL203: ``self.w.data`` in forward -> ``self.w`` (the parameter then gets its gradient)."""
    attribute = read.node
    if not isinstance(attribute, cst.Attribute):
        return None
    text = model.text(attribute.value)

    def make(context: FixContext) -> Optional[Fix]:
        edit = Edit(context.end(attribute.value, outer=True), context.end(attribute), "")
        return Fix(f"Use `{text}` instead of `{text}.data` (unsafe: `{text}` starts to get a gradient through this use)",
                   Applicability.UNSAFE, [edit])

    return LazyFix(make)

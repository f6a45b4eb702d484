"""The no_grad wrap: a statement (or the loop of writes around it) put inside
``with torch.no_grad():``, joining such a block right above when there is one, with edits
inside the statement (``Sub``) made on the way; and whether that is safe where it stands."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import libcst as cst

from leaflint.findings import Applicability, Edit, Fix, Position
from leaflint.fix.context import FixContext, LazyFix
from leaflint.fix.nodes import dotted_or_none, single_statement, walk_with_parents
from leaflint.model.judge import backward_before


@dataclass
class Sub:
    """An edit inside the statement being rewritten (never adds or removes a line break)."""

    start: Position
    end: Position
    content: str


def _apply_subs(lines: list[str], first_row: int, subs: Sequence[Sub]) -> list[str]:
    lines = list(lines)
    for sub in sorted(subs, key=lambda s: (s.start, s.end), reverse=True):
        if sub.start.row != sub.end.row:
            # spans several rows: join, edit, re-split (the content has no line break)
            first, last = sub.start.row - first_row, sub.end.row - first_row
            head = lines[first][: sub.start.column - 1]
            tail = lines[last][sub.end.column - 1:]
            lines[first:last + 1] = [head + sub.content + tail]
            continue
        index = sub.start.row - first_row
        line = lines[index]
        lines[index] = line[: sub.start.column - 1] + sub.content + line[sub.end.column - 1:]
    return lines


def _string_rows(context: FixContext, stmt: cst.CSTNode) -> set[int]:
    """Rows that start inside a multi-line string literal (their text must not be re-indented)."""
    rows: set[int] = set()
    for node, _ in walk_with_parents(stmt):
        if isinstance(node, (cst.SimpleString, cst.FormattedString)):
            start, end = context.start(node), context.end(node)
            rows.update(range(start.row + 1, end.row + 1))
    return rows


def wrap_edit(context: FixContext, stmt: cst.SimpleStatementLine, torch: str,
               subs: Sequence[Sub] = ()) -> Optional[Edit]:
    """Replace the statement's rows with ``with torch.no_grad():`` and the statement indented."""
    start, end = context.start(stmt), context.end(stmt)
    first_line = context.line(start.row)
    indent = first_line[: start.column - 1]
    if indent.strip():
        return None  # something precedes the statement on its line
    unit = context.indent_unit if context.indent_unit and not context.indent_unit.strip() else "    "
    if "\t" in indent:
        unit = "\t"
    elif indent and "\t" in unit:
        unit = "    "
    header: Optional[str] = f"{indent}with {torch}.no_grad():"
    new_indent = indent + unit
    block = _no_grad_block_before(context, stmt, torch)
    if block is not None:  # join the `with torch.no_grad():` block that ends right above
        header = None
        new_indent = block
    inside_string = _string_rows(context, stmt)
    rows = list(range(start.row, end.row + 1))
    lines = _apply_subs([context.line(r) for r in rows], start.row, subs)
    if len(lines) != len(rows):
        return None
    extra = new_indent[len(indent):] if new_indent.startswith(indent) else unit
    out = [header] if header is not None else []
    for row, line in zip(rows, lines):
        if row in inside_string or not line.strip():
            out.append(line)
        elif line.startswith(indent):
            out.append(new_indent + line[len(indent):])
        else:
            out.append(extra + line)
    last = context.line(end.row)
    return Edit(Position(start.row, 1), Position(end.row, len(last) + 1), context.newline.join(out))


def _no_grad_block_before(context: FixContext, stmt: cst.CSTNode, torch: str) -> Optional[str]:
    """The body indentation of a ``with torch.no_grad():`` statement right above ``stmt`` (same
    block, no line between them), else None."""
    if getattr(stmt, "leading_lines", ()):
        return None
    parent = context.parent(stmt)
    body = getattr(parent, "body", None)
    if not isinstance(parent, (cst.Module, cst.IndentedBlock)) or not isinstance(body, Sequence):
        return None
    index = next((i for i, s in enumerate(body) if s is stmt), None)
    if not index:
        return None
    previous = body[index - 1]
    if not (isinstance(previous, cst.With) and previous.asynchronous is None and len(previous.items) == 1
            and previous.items[0].asname is None
            and isinstance(previous.body, cst.IndentedBlock) and previous.body.body
            and context.end(previous).row + 1 == context.start(stmt).row):
        return None
    call = previous.items[0].item
    if not (isinstance(call, cst.Call) and not call.args and dotted_or_none(call.func) == f"{torch}.no_grad"):
        return None
    first = previous.body.body[0]
    prefix = context.line(context.start(first).row)[: context.start(first).column - 1]
    return prefix if not prefix.strip() else None


def _safe_context(model, ctx, context: FixContext, stmt: cst.CSTNode) -> bool:
    """Safe to turn grad mode off around the statement: ``__init__``, module level, or after a
    ``backward()`` earlier in the same function; never inside forward."""
    if model.in_forward(ctx):
        return False
    func = ctx.func
    if func.node is None or func.name == "__init__":
        return True
    where = context.start(stmt)
    return backward_before(func.node, lambda call: context.end(call) <= where)


def write_loop(model, ctx, stmt: cst.CSTNode) -> Optional[cst.For]:
    """The loop around ``stmt`` whose body is only writes the rules flag (in-place ops on leaves,
    ``.data`` writes on tensors that require grad, with grad mode on): wrapping the whole loop
    in no_grad is the fix, not each write inside each iteration."""
    from leaflint.blocks import loop_of_writes
    from leaflint.model.semantic import Grad

    writes = {id(s.ctx.stmt) for s in model.inplace if model.grad_at(s.ctx) is Grad.ON and (
        model.leaf_in_collection(s.target) if s.kind == "foreach" else model.leaf(s.target)) is not None}
    writes |= {id(w.ctx.stmt) for w in model.data_writes
               if model.grad_at(w.ctx) is Grad.ON and model.leaf(w.target) is not None}
    root = ctx.func.node if ctx.func.node is not None else model.module
    return loop_of_writes(root, stmt, lambda s: id(s) in writes or _grad_write(s))


def _grad_write(stmt: cst.CSTNode) -> bool:
    """A write to a gradient (``p.grad.zero_()``, ``p.grad = None``, ``p.grad *= s``): gradients
    are not in a graph, so the write means the same under no_grad."""
    if not single_statement(stmt):
        return False
    small = stmt.body[0]

    def is_grad(node: cst.CSTNode) -> bool:
        return isinstance(node, cst.Attribute) and node.attr.value == "grad"

    if isinstance(small, cst.Expr) and isinstance(small.value, cst.Call) and isinstance(small.value.func, cst.Attribute):
        return small.value.func.attr.value.endswith("_") and is_grad(small.value.func.value)
    if isinstance(small, cst.AugAssign):
        return is_grad(small.target)
    if isinstance(small, cst.Assign):
        return all(is_grad(t.target) for t in small.targets)
    return False


def no_grad_fix(model, ctx, stmt: cst.SimpleStatementLine, message: str,
                 subs: Callable[[FixContext], Sequence[Sub]] = lambda c: (),
                 applicability: Optional[str] = None) -> LazyFix:
    """Wrap ``stmt`` in ``with torch.no_grad():`` (importing torch when needed); the whole loop
    when ``stmt`` is in a loop of writes (``write_loop``)."""
    loop = write_loop(model, ctx, stmt)
    if loop is not None:
        stmt = loop
        message = message.replace("Wrap the statement", "Wrap the loop")
        if "Wrap the loop" not in message:
            message += " (the whole loop)"

    def make(context: FixContext) -> Optional[Fix]:
        torch, imports = context.torch_name()
        if torch is None:
            return None
        edit = wrap_edit(context, stmt, torch, subs(context))
        if edit is None:
            return None
        level = applicability or (Applicability.SAFE if _safe_context(model, ctx, context, stmt) else Applicability.UNSAFE)
        return Fix(message.replace("torch.", f"{torch}.", 1) if torch != "torch" else message, level, [edit] + imports)

    return LazyFix(make)

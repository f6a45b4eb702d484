"""Where a statement sits: its block, the loop around it, the ``backward()`` that follows it.

Used by the rules (to give advice that is right where it is given) and by the fixes built from
that advice (``leaflint.fix``). Pure libcst trees: no positions, no model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Optional, Sequence

import libcst as cst

from leaflint.model.judge import is_backward_call

# (the compound statement or module owning the block, the block's statements, the index)
Place = tuple[cst.CSTNode, Sequence[cst.BaseStatement], int]


def _blocks(node: cst.CSTNode) -> Iterator[Sequence[cst.BaseStatement]]:
    """The statement lists directly inside ``node`` (a module or a compound statement)."""
    if isinstance(node, cst.Module):
        yield node.body
        return
    for name in ("body", "orelse", "finalbody"):
        part = getattr(node, name, None)
        if isinstance(part, (cst.Else, cst.Finally, cst.If)):  # elif is an If in orelse
            if isinstance(part, cst.If):
                yield (part,)
                continue
            part = part.body
        if isinstance(part, cst.IndentedBlock):
            yield part.body
    for handler in getattr(node, "handlers", ()) or ():
        if isinstance(handler.body, cst.IndentedBlock):
            yield handler.body.body
    for case in getattr(node, "cases", ()) or ():
        if isinstance(case.body, cst.IndentedBlock):
            yield case.body.body


def locate(root: cst.CSTNode, target: cst.CSTNode) -> Optional[list[Place]]:
    """The places from ``root`` down to ``target`` (by identity), without entering nested
    functions or classes; None when ``target`` is not a statement under ``root``."""
    for block in _blocks(root):
        for index, stmt in enumerate(block):
            if stmt is target:
                return [(root, block, index)]
            if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)) or isinstance(stmt, cst.SimpleStatementLine):
                continue
            inner = locate(stmt, target)
            if inner is not None:
                return [(root, block, index)] + inner
    return None


def loop_of_writes(root: cst.CSTNode, stmt: cst.CSTNode, is_write: Callable[[cst.CSTNode], bool]) -> Optional[cst.For]:
    """The outermost ``for`` loop around ``stmt`` whose body holds nothing but writes
    (``is_write(statement)``), ``pass`` and nested such loops (``for p in m.parameters():
    p.mul_(0.9)``); None when the loop does anything else (or has an ``else``)."""
    path = locate(root, stmt)
    if path is None:
        return None
    loop = None
    for owner, block, _ in reversed(path):
        if not (isinstance(owner, cst.For) and owner.asynchronous is None and owner.orelse is None
                and isinstance(owner.body, cst.IndentedBlock) and block is owner.body.body):
            break
        if not all(_only_writes(s, is_write) for s in block):
            break
        loop = owner
    return loop


def _only_writes(stmt: cst.CSTNode, is_write: Callable[[cst.CSTNode], bool]) -> bool:
    if isinstance(stmt, cst.SimpleStatementLine) and all(isinstance(s, cst.Pass) for s in stmt.body):
        return True
    if is_write(stmt):
        return True
    return (isinstance(stmt, cst.For) and stmt.asynchronous is None and stmt.orelse is None
            and isinstance(stmt.body, cst.IndentedBlock)
            and all(_only_writes(s, is_write) for s in stmt.body.body))


def _call_of(stmt: cst.CSTNode) -> Optional[cst.Call]:
    if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1 and isinstance(stmt.body[0], cst.Expr) \
            and isinstance(stmt.body[0].value, cst.Call):
        return stmt.body[0].value
    return None


def _method(call: cst.Call) -> str:
    return call.func.attr.value if isinstance(call.func, cst.Attribute) else (
        call.func.value if isinstance(call.func, cst.Name) else "")


def _calls_backward(node: cst.CSTNode) -> bool:
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            continue
        if isinstance(n, cst.Call) and is_backward_call(n):
            return True
        stack.extend(n.children)
    return False


@dataclass
class MovePlan:
    """Move ``unit`` (a write, or the loop of writes around it) to right after ``after``:
    the ``backward()`` statement that follows it in the same block, or the optimizer's
    ``step()`` right after that."""

    unit: cst.BaseStatement
    after: cst.BaseStatement
    backward: cst.Call
    step: Optional[cst.Call]


def move_after_backward(root: cst.CSTNode, unit: cst.CSTNode, mentions: Callable[[cst.CSTNode], bool]) -> Optional[MovePlan]:
    """Where to move a write that sits between a forward and its ``backward()``: after the
    first statement that calls backward, when that statement is a plain ``....backward(...)``
    call in the same block (and after the ``.step()`` calls among the plain calls right after
    it). None when no such statement exists, or when a statement the write would jump over
    ``mentions`` the written tensor (it would then see other values)."""
    path = locate(root, unit)
    if path is None:
        return None
    _, block, index = path[-1]
    for position in range(index + 1, len(block)):
        stmt = block[position]
        if not _calls_backward(stmt):
            if mentions(stmt):
                return None
            continue
        call = _call_of(stmt)
        if call is None or not is_backward_call(call):
            return None  # backward() inside a compound statement or an expression: no plain place
        after, step = stmt, None
        for later in block[position + 1:]:
            follow = _call_of(later)
            if follow is None or mentions(later) and _method(follow) != "step":
                break
            if _method(follow) == "step":
                after, step = later, follow
        return MovePlan(unit, after, call, step)
    return None

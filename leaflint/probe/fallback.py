"""Whether an ``except`` around a line of the user's code turns an exception into a fallback (no torch).

An error torch raises inside a ``try`` whose handler catches it and does not re-raise is the
program's deliberate fallback (``try: m.w = t`` / ``except TypeError: m.w = nn.Parameter(t)``),
not a bug the run observed. The static rules judge it the same way from the syntax
(leaflint/model/flow.py, ``fallback_handlers``); this reads the same facts from the source of the
running file with ``ast`` (the probe does not need libcst): the ``try`` statements of the
function holding the line, whose body holds it.
"""

from __future__ import annotations

import ast
import linecache
from typing import Optional

_CATCH_ALL = ("*", "Exception", "BaseException")
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_TRIES = tuple(t for t in (ast.Try, getattr(ast, "TryStar", None)) if t is not None)

_trees: dict[str, Optional[ast.Module]] = {}


def handler_for(filename: str, line: int, exception: str) -> Optional[str]:
    """The name of the ``except`` around ``filename:line`` that falls back on ``exception``
    (``"TypeError"``, ``"Exception"``, ``"*"`` for a bare ``except:``), or None."""
    tree = _tree(filename)
    if tree is None:
        return None
    for names in _enclosing_fallbacks(tree, line):
        if exception in names:
            return exception
        for name in _CATCH_ALL:
            if name in names:
                return name
    return None


def _tree(filename: str) -> Optional[ast.Module]:
    if filename not in _trees:
        source = "".join(linecache.getlines(filename))
        try:
            _trees[filename] = ast.parse(source, filename) if source else None
        except (SyntaxError, ValueError):  # not Python we can read: no fallback known
            _trees[filename] = None
    return _trees[filename]


def _enclosing_fallbacks(scope: ast.AST, line: int):
    """The fallback names of each ``try`` whose body holds ``line``, within the innermost
    function (or class, or module) that holds it."""
    inner = _innermost_scope(scope, line)
    found = []
    todo = list(ast.iter_child_nodes(inner))
    while todo:
        node = todo.pop()
        if isinstance(node, _SCOPES) or not _holds(node, line):
            continue
        if isinstance(node, _TRIES) and node.body and node.body[0].lineno <= line <= node.body[-1].end_lineno:
            found.append(_fallback_names(node))
        todo.extend(ast.iter_child_nodes(node))
    return found


def _innermost_scope(node: ast.AST, line: int) -> ast.AST:
    for child in ast.walk(node):
        if child is not node and isinstance(child, _SCOPES) and _holds(child, line):
            return _innermost_scope(child, line)
    return node


def _holds(node: ast.AST, line: int) -> bool:
    start = getattr(node, "lineno", None)
    end = getattr(node, "end_lineno", None)
    return start is None or (start <= line <= (end or start))


def _fallback_names(node) -> set[str]:
    names: set[str] = set()
    for handler in node.handlers:
        if any(isinstance(stmt, ast.Raise) for stmt in handler.body):
            continue  # re-raises: not a fallback
        names.update(_exception_names(handler.type))
    return names


def _exception_names(node) -> list[str]:
    if node is None:
        return ["*"]
    if isinstance(node, ast.Tuple):
        return [name for element in node.elts for name in _exception_names(element)]
    if isinstance(node, ast.Attribute):
        return [node.attr]
    if isinstance(node, ast.Name):
        return [node.id]
    return []

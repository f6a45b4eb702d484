"""Small questions about the libcst nodes a fix rewrites: which names a statement binds, the
path from a statement down to a node, whether a node runs later than its statement."""

from __future__ import annotations

from typing import Iterator, Optional, Sequence

import libcst as cst

from leaflint.model.imports import dotted
from leaflint.model.walk import children

# Nodes under which an expression is not evaluated once, right there.
DEFERRED = (cst.Lambda, cst.FunctionDef, cst.ClassDef, cst.GeneratorExp)
REPEATED_OR_CONDITIONAL = (cst.For, cst.While, cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp,
                           cst.IfExp, cst.BooleanOperation, cst.If, cst.Try, cst.With, cst.Match)


def bound_names(node: cst.CSTNode) -> Iterator[str]:
    if isinstance(node, cst.Name):
        yield node.value
    elif isinstance(node, (cst.Tuple, cst.List)):
        for element in node.elements:
            yield from bound_names(element.value)
    elif isinstance(node, cst.StarredElement):
        yield from bound_names(node.value)


def local_binding(func: Optional[cst.FunctionDef], name: str) -> bool:
    """Whether ``name`` is a parameter of ``func`` or assigned anywhere in it."""
    if func is None:
        return False
    for param in _all_params(func.params):
        if param.name.value == name:
            return True
    return any(name in names for names in binding_targets(func.body))


def _all_params(params: cst.Parameters) -> list[cst.Param]:
    found = list(params.posonly_params) + list(params.params) + list(params.kwonly_params)
    for star in (params.star_arg, params.star_kwarg):
        if isinstance(star, cst.Param):
            found.append(star)
    return found


def binding_targets(node: cst.CSTNode) -> Iterator[set[str]]:
    for child, _parent in walk_with_parents(node):
        if isinstance(child, cst.AssignTarget):
            yield set(bound_names(child.target))
        elif isinstance(child, (cst.AugAssign, cst.AnnAssign)):
            yield set(bound_names(child.target))
        elif isinstance(child, (cst.For, cst.CompFor)):
            yield set(bound_names(child.target))
        elif isinstance(child, cst.AsName):
            yield set(bound_names(child.name))
        elif isinstance(child, cst.NamedExpr):
            yield set(bound_names(child.target))
        elif isinstance(child, (cst.FunctionDef, cst.ClassDef)):
            yield {child.name.value}
        elif isinstance(child, (cst.Import, cst.ImportFrom)) and not isinstance(getattr(child, "names", None), cst.ImportStar):
            yield {(a.asname.name.value if a.asname is not None and isinstance(a.asname.name, cst.Name)
                    else (dotted(a.name) or "").split(".", 1)[0]) for a in child.names}


def walk_with_parents(root: cst.CSTNode, parent: Optional[cst.CSTNode] = None) -> Iterator[tuple[cst.CSTNode, Optional[cst.CSTNode]]]:
    stack = [(root, parent)]
    while stack:
        node, up = stack.pop()
        yield node, up
        stack.extend((child, node) for child in reversed(children(node)))


def path_to(root: cst.CSTNode, target: cst.CSTNode) -> Optional[list[cst.CSTNode]]:
    """The nodes from ``root`` down to ``target`` (both included), by identity."""
    if root is target:
        return [root]
    for child in children(root):
        path = path_to(child, target)
        if path is not None:
            return [root] + path
    return None


def single_statement(stmt: Optional[cst.CSTNode]) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1


def in_deferred_scope(path: Sequence[cst.CSTNode]) -> bool:
    """The node runs later than its statement (inside a lambda, nested def, generator)."""
    return any(isinstance(n, DEFERRED) for n in path[1:-1])


def dotted_or_none(node: cst.CSTNode) -> Optional[str]:
    if isinstance(node, (cst.Name, cst.Attribute)):
        return dotted(node)
    return None

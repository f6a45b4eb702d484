"""A read-only walk over a libcst tree, for a ``CSTVisitor``, without libcst's copying.

``node.visit(visitor)`` rebuilds every node it passes (each ``_visit_and_replace_children``
constructs and validates a new node) even for a read-only ``CSTVisitor``, and dispatches every
node, whitespace and punctuation included, through ``getattr(visitor, f"visit_{name}")``. For
leaflint that was as much time again as the parse itself.

``walk(root, visitor, parents)`` makes the same callbacks in the same order (``visit_<Type>``,
``visit_<Type>_<field>``, ``leave_<Type>_<field>``, ``leave_<Type>``; children not entered when
``visit_<Type>`` returns False), with two differences:

* whitespace, comments and punctuation tokens (``libcst._nodes.whitespace``, ``libcst._nodes.op``,
  brackets, parentheses, ``async``) are not visited, and neither are the fields that can only
  hold them (read from libcst's own field types);
* nodes are never copied; the generic ``on_visit``/``on_leave`` hooks are not called: instead
  the node is pushed on ``parents`` before ``visit_<Type>`` and popped before ``leave_<Type>``.

The order of a node type's fields is libcst's own: it is recorded, once per type, from one call
of that type's ``_visit_and_replace_children`` (libcst reports every field there, present or
not, but for a few it visits only when set, such as an f-string expression's ``format_spec``:
those are learned from the first node that has one, and skipped when None, as libcst does).
``tests/test_walk.py`` compares the callbacks with libcst's visit on the fixtures and on
leaflint's own sources; on the 5,340 files of the benchmark corpus they were identical too.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, Callable, Iterator, Optional

import libcst as cst

# (if libcst moves these classes, tokens are merely walked: slower, the same callbacks)
_TOKEN_MODULES = frozenset({"libcst._nodes.op", "libcst._nodes.whitespace"})
_TOKENS = frozenset({cst.LeftParen, cst.RightParen, cst.LeftSquareBracket, cst.RightSquareBracket,
                     cst.LeftCurlyBrace, cst.RightCurlyBrace, cst.Asynchronous})


def is_token(kind: type) -> bool:
    """Whitespace, comments and punctuation: nodes that never hold code."""
    return kind.__module__ in _TOKEN_MODULES or kind in _TOKENS


def _classes_in(annotation: Any) -> Optional[list[type]]:
    """The node classes a field type admits (None if it admits something else, e.g. a str)."""
    if annotation is type(None) or annotation is cst.MaybeSentinel:
        return []
    args = typing.get_args(annotation)
    if args:  # Sequence[X], Union[X, MaybeSentinel], Optional[X]
        found: list[type] = []
        for arg in args:
            inner = _classes_in(arg)
            if inner is None:
                return None
            found.extend(inner)
        return found
    if isinstance(annotation, type) and issubclass(annotation, cst.CSTNode):
        return [annotation]
    return None


def _token_only(annotation: Any) -> bool:
    """Whether a field of this libcst type admits only tokens (then it is never walked)."""
    classes = _classes_in(annotation)
    return bool(classes) and all(is_token(c) for c in classes)


class _FieldOrder(cst.CSTVisitor):
    """Records the fields a node's ``_visit_and_replace_children`` goes through, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: list[str] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        return False

    def on_leave(self, original_node: cst.CSTNode) -> None:
        return None

    def on_visit_attribute(self, node: cst.CSTNode, attribute: str) -> None:
        self.fields.append(attribute)

    def on_leave_attribute(self, original_node: cst.CSTNode, attribute: str) -> None:
        return None


# node type -> (its walked fields in libcst's order, or None for a token; the fields that may hold
# code but were not recorded: libcst visits a few only when they are set, such as an f-string
# expression's format_spec)
_FIELDS: dict[type, tuple[Optional[tuple[str, ...]], tuple[str, ...]]] = {}
# node type -> the fields libcst visits only when they are set (no field callbacks when None)
_CONDITIONAL: dict[type, frozenset[str]] = {}


def _visited_fields(node: cst.CSTNode) -> list[str]:
    recorder = _FieldOrder()
    node._visit_and_replace_children(recorder)  # builds one throwaway copy
    return recorder.fields


def _record(node: cst.CSTNode) -> tuple[Optional[tuple[str, ...]], tuple[str, ...]]:
    kind = type(node)
    if is_token(kind):
        entry: tuple[Optional[tuple[str, ...]], tuple[str, ...]] = (None, ())
    else:
        types = {item.name: item.type for item in dataclasses.fields(kind)}
        fields: list[str] = []
        for field in _visited_fields(node):
            if field not in fields and not _token_only(types.get(field)):
                fields.append(field)
        pending = tuple(name for name, annotation in types.items()
                        if name not in fields and _classes_in(annotation) and not _token_only(annotation))
        conditional = set(_CONDITIONAL.get(kind, ()))
        for field in fields:  # is a field that is set here skipped when it is None?
            if getattr(node, field) is not None and type(None) in typing.get_args(types.get(field)):
                try:
                    bare = node.with_changes(**{field: None})
                except Exception:  # libcst's validation: it cannot be None here
                    continue
                if field not in _visited_fields(bare):
                    conditional.add(field)
        _CONDITIONAL[kind] = frozenset(conditional | set(pending))
        entry = (tuple(fields), pending)
    _FIELDS[kind] = entry
    return entry


def _fields_of(node: cst.CSTNode) -> Optional[tuple[str, ...]]:
    entry = _FIELDS.get(type(node)) or _record(node)
    fields, pending = entry
    if pending and any(getattr(node, field) is not None for field in pending):
        fields = _record(node)[0]  # this one has such a field set: learn where libcst visits it
    return fields


# (visitor class, node type) -> (visit, leave, {field: (visit_field, leave_field)})
_Plan = tuple[Optional[Callable], Optional[Callable], dict[str, tuple[Optional[Callable], Optional[Callable]]]]
_PLANS: dict[tuple[type, type], _Plan] = {}


def _plan(visitor_class: type, kind: type) -> _Plan:
    name = kind.__name__
    visit = getattr(visitor_class, f"visit_{name}", None)
    leave = getattr(visitor_class, f"leave_{name}", None)
    hooks: dict[str, tuple[Optional[Callable], Optional[Callable]]] = {}
    for field in (item.name for item in dataclasses.fields(kind)):
        before = getattr(visitor_class, f"visit_{name}_{field}", None)
        after = getattr(visitor_class, f"leave_{name}_{field}", None)
        if before is not None or after is not None:
            hooks[field] = (before, after)
    plan = (visit, leave, hooks)
    _PLANS[(visitor_class, kind)] = plan
    return plan


def walk(root: cst.CSTNode, visitor: cst.CSTVisitor, parents: list) -> None:
    """Walk ``root`` and everything under it, calling ``visitor``'s callbacks in libcst's order."""
    fields = _node_fields(root)
    if fields is not None:
        _Walk(visitor, parents).visit(root, fields)


def _node_fields(node: cst.CSTNode) -> Optional[tuple[str, ...]]:
    entry = _FIELDS.get(type(node))
    if entry is not None and not entry[1]:
        return entry[0]
    return _fields_of(node)


class _Walk:
    # A class rather than a recursive closure: a closure that calls itself is a reference cycle,
    # and would keep the visitor (and the tree it refers to) alive until Python's cyclic collector.
    __slots__ = ("visitor", "visitor_class", "push", "pop")

    def __init__(self, visitor: cst.CSTVisitor, parents: list) -> None:
        self.visitor = visitor
        self.visitor_class = type(visitor)
        self.push, self.pop = parents.append, parents.pop

    def visit(self, node: cst.CSTNode, fields: tuple[str, ...]) -> None:
        kind = type(node)
        visitor = self.visitor
        enter, leave, hooks = _PLANS.get((self.visitor_class, kind)) or _plan(self.visitor_class, kind)
        self.push(node)
        if enter is None or enter(visitor, node) is not False:
            for field in fields:
                value = getattr(node, field)
                if value is None and field in _CONDITIONAL.get(kind, ()):
                    continue
                hook = hooks.get(field) if hooks else None
                if hook is not None and hook[0] is not None:
                    hook[0](visitor, node)
                if isinstance(value, cst.CSTNode):
                    child_fields = _node_fields(value)
                    if child_fields is not None:
                        self.visit(value, child_fields)
                elif isinstance(value, (tuple, list)):
                    for child in value:
                        child_fields = _node_fields(child)
                        if child_fields is not None:
                            self.visit(child, child_fields)
                if hook is not None and hook[1] is not None:
                    hook[1](visitor, node)
        self.pop()
        if leave is not None:
            leave(visitor, node)


def descendants(root: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """``root`` and every node under it (whitespace and punctuation left out), depth first."""
    stack = [root]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(children(current))


def children(node: cst.CSTNode) -> list[cst.CSTNode]:
    """``node.children`` without whitespace and punctuation, in libcst's order, and without the
    copy of ``node`` that libcst's ``children`` builds to find them."""
    found: list[cst.CSTNode] = []
    for field in _node_fields(node) or ():
        value = getattr(node, field)
        if isinstance(value, cst.CSTNode):
            if _node_fields(value) is not None:
                found.append(value)
        elif isinstance(value, (tuple, list)):
            found.extend(child for child in value if _node_fields(child) is not None)
    return found

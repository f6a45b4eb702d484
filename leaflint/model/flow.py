"""Facts that depend on where a statement is: branch conditions, ``try``/``except`` fallbacks,
one-time guards, and what a function returns on every path.

Each helper answers from the syntax around a program point; the collector keeps the stacks
(``branch_frozen``, ``handled``, ``ifs``) and the model asks the questions.
"""

from __future__ import annotations

from typing import Iterator, Optional

import libcst as cst

from leaflint.model.imports import dotted
from leaflint.model.syntax import contains
from leaflint.model.values import DictOf, Fresh, ModuleInstance, ParamIter, PlainTensor, TensorList, Value

# Exceptions whose handler catches what torch raises for these mistakes (TypeError for a tensor
# over a Parameter slot, RuntimeError for an in-place write on a leaf).
_CATCH_ALL = frozenset({"*", "Exception", "BaseException"})


def not_requiring_grad(test: cst.BaseExpression, positive: bool) -> set[str]:
    """Paths known not to require grad in the body (``positive``) or the ``else`` of ``if test:``.

    ``if not p.requires_grad:`` / ``if p.requires_grad is False:`` hold it in the body;
    ``if p.requires_grad:`` holds it in the ``else``. Conjunctions hold each part in the body.
    """
    found: set[str] = set()
    if isinstance(test, cst.BooleanOperation):
        if positive and isinstance(test.operator, cst.And):
            return not_requiring_grad(test.left, True) | not_requiring_grad(test.right, True)
        if not positive and isinstance(test.operator, cst.Or):
            return not_requiring_grad(test.left, False) | not_requiring_grad(test.right, False)
        return found
    negated = False
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        test, negated = test.expression, True
    if isinstance(test, cst.Comparison) and len(test.comparisons) == 1:
        comparison = test.comparisons[0]
        literal = comparison.comparator
        if isinstance(literal, cst.Name) and literal.value in ("True", "False") and isinstance(
                comparison.operator, (cst.Is, cst.Equal, cst.IsNot, cst.NotEqual)):
            truth = literal.value == "True"
            if isinstance(comparison.operator, (cst.IsNot, cst.NotEqual)):
                truth = not truth
            negated = negated != (not truth)
            test = test.left
    if isinstance(test, cst.Call) and isinstance(test.func, cst.Name) and test.func.value == "isinstance" \
            and len(test.args) == 2 and negated == positive:
        # the branch where ``isinstance(x, nn.Parameter)`` is false: ``x`` is not a Parameter there
        # (a plain tensor, a buffer, None): not the Parameter slot the class facts describe
        kinds = test.args[1].value
        names = [e.value for e in kinds.elements] if isinstance(kinds, cst.Tuple) else [kinds]
        path = dotted(test.args[0].value)
        if path is not None and any((dotted(n) or "").rsplit(".", 1)[-1] == "Parameter" for n in names):
            found.add(path)
        return found
    if isinstance(test, cst.Attribute) and test.attr.value == "requires_grad":
        path = dotted(test.value)
        # the branch taken has ``requires_grad`` false: the body of ``not x``, the else of ``x``
        if path is not None and negated == positive:
            found.add(path)
    return found


def _exception_names(node: Optional[cst.BaseExpression]) -> Iterator[str]:
    if node is None:
        yield "*"
    elif isinstance(node, cst.Tuple):
        for element in node.elements:
            yield from _exception_names(element.value)
    elif isinstance(node, cst.Attribute):
        yield node.attr.value
    elif isinstance(node, cst.Name):
        yield node.value


def _reraises(handler: cst.ExceptHandler) -> bool:
    body = handler.body.body if isinstance(handler.body, cst.IndentedBlock) else ()
    for stmt in body:
        if isinstance(stmt, cst.SimpleStatementLine) and any(isinstance(s, cst.Raise) for s in stmt.body):
            return True
    return False


def fallback_handlers(node: cst.Try) -> frozenset[str]:
    """The exceptions a ``try`` turns into a fallback (its handlers that do not re-raise)."""
    names: set[str] = set()
    for handler in node.handlers:
        if not _reraises(handler):
            names.update(_exception_names(handler.type))
    return frozenset(names)


def handles(handled: frozenset[str], exception: str) -> bool:
    """Whether an enclosing ``try`` falls back when ``exception`` is raised."""
    return exception in handled or bool(handled & _CATCH_ALL)


_CONTAINER_CALLS = frozenset({"dict", "list", "set", "OrderedDict", "defaultdict"})


def is_container(node: cst.BaseExpression) -> bool:
    """A plain Python container: ``{}``, ``[]``, ``dict()``, ``OrderedDict()``..."""
    if isinstance(node, (cst.Dict, cst.List, cst.Set, cst.DictComp, cst.ListComp, cst.SetComp)):
        return True
    if isinstance(node, cst.Call):
        name = dotted(node.func) or ""
        return name.rsplit(".", 1)[-1] in _CONTAINER_CALLS
    return False


def common_return(returns: list[Optional[Value]]) -> Optional[Value]:
    """What a call gives when every ``return`` gives the same fresh leaf, module kind, plain
    tensor, collection of parameters, or list or dict built in the function."""
    if not returns:
        return None
    first = returns[0]
    if not isinstance(first, (Fresh, ModuleInstance, ParamIter, PlainTensor, DictOf, TensorList)):
        return None
    if all(r == first for r in returns):
        return first
    return None


def _paths_read(test: cst.BaseExpression) -> set[str]:
    """The attribute paths a guard reads: ``self.w is None`` -> self.w; ``hasattr(self, "w")`` -> self.w."""
    paths: set[str] = set()
    stack: list[cst.CSTNode] = [test]
    while stack:
        node = stack.pop()
        if isinstance(node, (cst.Name, cst.Attribute)):
            path = dotted(node)
            if path is not None:
                paths.add(path)
                continue
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Name) \
                and node.func.value in ("hasattr", "getattr") and len(node.args) >= 2:
            owner, name = dotted(node.args[0].value), node.args[1].value
            if owner is not None and isinstance(name, cst.SimpleString):
                paths.add(f"{owner}.{name.value.strip(chr(39) + chr(34))}")
            continue
        if isinstance(node, cst.Call):
            stack.extend(a.value for a in node.args)
        elif isinstance(node, cst.UnaryOperation):
            stack.append(node.expression)
        elif isinstance(node, cst.BooleanOperation):
            stack.extend((node.left, node.right))
        elif isinstance(node, cst.Comparison):
            stack.append(node.left)
            stack.extend(c.comparator for c in node.comparisons)
    return paths


def _assigned_in(body: cst.CSTNode) -> set[str]:
    """Attribute paths assigned anywhere in a block (``self.w = ...``, ``setattr(self, "w", ...)``)."""
    assigned: set[str] = set()
    stack: list[cst.CSTNode] = [body]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.FunctionDef):
            continue
        if isinstance(node, cst.Assign):
            for target in node.targets:
                path = dotted(target.target)
                if path is not None:
                    assigned.add(path)
        elif isinstance(node, (cst.AnnAssign, cst.AugAssign)):
            path = dotted(node.target)
            if path is not None:
                assigned.add(path)
        elif isinstance(node, cst.Call) and isinstance(node.func, (cst.Name, cst.Attribute)) \
                and (dotted(node.func) or "").rsplit(".", 1)[-1] in ("setattr", "register_parameter") \
                and node.args:
            args = [a.value for a in node.args]
            if (dotted(node.func) or "").endswith("register_parameter") and isinstance(node.func, cst.Attribute):
                owner, name = dotted(node.func.value), args[0]
            else:
                owner, name = dotted(args[0]), args[1] if len(args) > 1 else None
            if owner is not None and isinstance(name, cst.SimpleString):
                assigned.add(f"{owner}.{name.value.strip(chr(39) + chr(34))}")
        stack.extend(child for child in node.children if isinstance(child, cst.CSTNode))
    return assigned


def one_time_guard(node: cst.If) -> bool:
    """An ``if`` whose body makes its own test false: it runs once (lazy creation).

    ``if self.w is None: self.w = nn.Parameter(...)``; ``if not self.built: ...; self.built =
    True``; ``if not hasattr(self, "w"): self.w = ...``: the body assigns a path the test reads.
    """
    read = _paths_read(node.test)
    return bool(read) and bool(read & _assigned_in(node.body))


def always_exits(block: cst.BaseSuite) -> bool:
    """Whether every path through a block leaves the function (its last statement is a
    ``return`` or a ``raise``, or an ``if``/``else`` whose branches all do)."""
    body = block.body if isinstance(block, cst.IndentedBlock) else ()
    if isinstance(block, cst.SimpleStatementSuite):
        return any(isinstance(s, (cst.Return, cst.Raise)) for s in block.body)
    if not body:
        return False
    last = body[-1]
    if isinstance(last, cst.SimpleStatementLine):
        return any(isinstance(s, (cst.Return, cst.Raise)) for s in last.body)
    if isinstance(last, cst.If):
        return if_exits(last)
    return False


def if_exits(node: cst.If) -> bool:
    """Whether every branch of an ``if``/``elif``/``else`` leaves the function."""
    if node.orelse is None or not always_exits(node.body):
        return False
    if isinstance(node.orelse, cst.If):
        return if_exits(node.orelse)
    return always_exits(node.orelse.body)


def _set_paths(test: cst.BaseExpression) -> set[str]:
    """The attribute paths a test finds already made: true once ``self.w`` holds something
    (``self.w is not None``, ``hasattr(self, "w")``, ``isinstance(self.w, nn.Parameter)``, a
    flag ``self.built``); a disjunction holds when any part does."""
    if isinstance(test, cst.BooleanOperation) and isinstance(test.operator, cst.Or):
        return _set_paths(test.left) | _set_paths(test.right)
    if isinstance(test, (cst.Name, cst.Attribute)):
        path = dotted(test)
        return {path} if path is not None and "." in path else set()
    if isinstance(test, cst.Comparison) and len(test.comparisons) == 1:
        comparison = test.comparisons[0]
        if isinstance(comparison.operator, (cst.IsNot, cst.NotEqual)) and isinstance(comparison.comparator, cst.Name) \
                and comparison.comparator.value == "None":
            path = dotted(test.left)
            return {path} if path is not None else set()
        return set()
    if isinstance(test, cst.Call) and isinstance(test.func, cst.Name) and test.func.value in ("hasattr", "isinstance") \
            and len(test.args) == 2:
        return _paths_read(test)
    return set()


def exit_once(node: cst.If, assigned: set[str]) -> bool:
    """An early exit ``if <made>: return`` before code that makes ``<made>`` true: what follows
    runs once (``if self.w is not None: return`` ... ``self.w = nn.Parameter(...)``)."""
    return bool(_set_paths(node.test) & assigned)


def assigned_paths(body: cst.CSTNode) -> set[str]:
    """Attribute paths assigned anywhere in a block (see ``one_time_guard``)."""
    return _assigned_in(body)


def guard_once(node: cst.If, stmt: Optional[cst.CSTNode], assigned: set[str]) -> bool:
    """A call or statement inside the body of ``if <not made yet>:`` where ``assigned`` (what the
    guarded code, callees included, assigns) makes it made: ``if self.trace is None:
    self._setup()`` with ``_setup`` assigning ``self.trace``."""
    if stmt is None or not contains(node.body, stmt):
        return False
    return bool(_paths_read(node.test) & assigned)


def merge_envs(envs: list[dict]) -> dict:
    """Where paths join, a name keeps its value only if every path that binds it agrees; a path
    that leaves it unbound contributes nothing (reading it there would raise NameError)."""
    if len(envs) == 1:
        return envs[0]
    merged: dict = {}
    for env in envs:
        for name, value in env.items():
            if name not in merged:
                merged[name] = value
            elif merged[name] is not None and merged[name] != value:
                merged[name] = None
    for name in merged:
        if any(name in env and env[name] is None for env in envs):
            merged[name] = None
    return merged


def _polarity(test: cst.BaseExpression, holds: bool) -> Optional[tuple[str, bool]]:
    """``flag`` / ``self.flag`` / ``not flag`` as (the dotted name, whether it is true), when
    ``test`` holds (``holds``) or does not; None for any other test."""
    while isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        test, holds = test.expression, not holds
    name = dotted(test)
    return (name, holds) if name is not None else None


def refuted_where(when: str, ifs: tuple[cst.If, ...], exits: tuple[cst.If, ...], node: cst.CSTNode) -> bool:
    """Whether the branches around ``node`` hold only where ``when`` (``flag``, ``not freeze``:
    the condition under which a leaf requires grad) is false: the write under ``if not flag:``,
    in the ``else`` of ``if flag:``, or after ``if flag: return``."""
    wanted = _polarity(cst.parse_expression(when), True)
    if wanted is None:
        return False
    held = [_polarity(branch.test, contains(branch.body, node)) for branch in ifs]
    held += [_polarity(branch.test, False) for branch in exits]
    return any(fact is not None and fact[0] == wanted[0] and fact[1] != wanted[1] for fact in held)

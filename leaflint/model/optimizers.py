"""Optimizers that outlive the parameters they were built over (LL304).

``torch.optim.X(model.parameters())`` keeps the Parameter objects it is given. Code that then
replaces a parameter or a parameter-owning submodule of ``model`` (``model.fc = nn.Linear(...)``,
``setattr(model, name, nn.Linear(...))``, ``model.scale = nn.Parameter(...)``, or a call of a
function or method that does so) and goes on using the same optimizer trains nothing new: the
optimizer steps the old objects, which forward no longer uses.

Facts, per function, in statement order (``stale_optimizers``):
- an optimizer bound to a name, built over ``P.parameters()`` (``P`` a dotted path);
- a later statement that replaces state under ``P``: directly, or through a call whose callee's
  summary (``replaced_params``) says it replaces state of the argument given ``P`` (or of
  ``self``, for ``P.method(...)``), followed bottom-up through the file's calls;
- a later use of the same optimizer name, not rebound in between. ``opt.add_param_group(...)``
  right after the replacement hands the new parameters over and is not a stale use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator, Optional

import libcst as cst

from leaflint.model.imports import dotted
from leaflint.model.lifecycle import lazily_guarded
from leaflint.model.reach import Resolver, receiver_calls
from leaflint.model.values import Fresh, ModuleInstance
from leaflint.model.walk import children, descendants

if TYPE_CHECKING:
    from leaflint.model.facts import AttrAssign, FuncInfo
    from leaflint.model.semantic import SemanticModel

_PARAMETER_LISTS = ("parameters", "named_parameters")


@dataclass
class StaleOptimizer:
    """A statement that replaces state of a module an optimizer holds, and the optimizer's next use."""

    node: cst.CSTNode  # the replacing statement
    what: str  # what is replaced, or the call that replaces it
    optimizer: str  # the optimizer's name
    owner: str  # the module whose parameters the optimizer was built over
    built: cst.CSTNode  # the optimizer's construction
    used: cst.CSTNode  # the later statement that uses the optimizer


def replaces_state(model: "SemanticModel", assign: "AttrAssign") -> bool:
    """A new trainable nn.Parameter or a new parameter-owning module assigned to an attribute."""
    value = assign.value
    if isinstance(value, Fresh):
        return value.origin == "nn.Parameter(...)"
    return isinstance(value, ModuleInstance) and model.module_owns_parameters(value)


def replaced_params(model: "SemanticModel", lazy: Callable[["AttrAssign"], bool]
                    ) -> tuple[dict[int, set[str]], dict[int, set[str]]]:
    """See ``_replacements`` (without the receiver calls)."""
    found, through, _ = _replacements(model, lazy)
    return found, through


def _replacements(model: "SemanticModel", lazy: Callable[["AttrAssign"], bool]):
    """Function id -> the names of its parameters whose state it replaces (``self`` for a
    method replacing its own), directly or through the calls it makes (a fixpoint); and call id
    -> the caller's dotted paths whose state the call replaces through methods it reaches on the
    objects it is given (``Controller(model).initialize()``, ``leaflint.model.reach``). ``lazy``
    says which assignments are a one-time creation, not a replacement."""
    found: dict[int, set[str]] = {}
    through: dict[int, set[str]] = {}
    for assign in model.attr_assigns:
        func = assign.ctx.func
        if func.node is None or func.name == "__init__" or not replaces_state(model, assign):
            continue
        if lazy(assign) or model.created_once(assign):
            continue
        path = dotted(assign.owner_node)
        root = path.split(".", 1)[0] if path is not None else None
        if root is not None and root in func.params:
            found.setdefault(id(func), set()).add(root)
    reach = receiver_calls(model)
    for call in model.arg_calls:
        _seed(model, model.callees(call), found, reach)
    resolver = Resolver(model)
    for _ in range(6):
        changed = False
        for call in model.arg_calls:
            caller = call.ctx.func
            for callee in model.callees(call):
                paths = list(_given_paths(model, call, callee, found))
                for path in _reached_paths(resolver, call, callee, reach, found):
                    if path not in through.get(id(call.node), set()):
                        through.setdefault(id(call.node), set()).add(path)
                        changed = True
                    paths.append(path)
                for root, chain, method in _forwarded(resolver, call, callee, reach):
                    if (root, chain, method) not in reach.get(id(caller), set()):
                        reach.setdefault(id(caller), set()).add((root, chain, method))
                        changed = True
                if caller.node is None:
                    continue
                for path in paths:
                    root = path.split(".", 1)[0]
                    if root in caller.params and root not in found.get(id(caller), set()):
                        found.setdefault(id(caller), set()).add(root)
                        changed = True
        if not changed:
            break
    return found, through, reach


def replacement_summary(model: "SemanticModel") -> tuple[dict[int, set[str]], dict[int, set]]:
    """Function id -> the parameters whose state it replaces, and the methods it calls on paths
    rooted in its parameters (``leaflint.model.reach``): what the project index keeps of a module's
    functions and methods for LL304 in the modules that call them (one-time creations under the
    usual lazy guards left out)."""
    found, _, reach = _replacements(model, lazily_guarded)
    return found, reach


def _seed(model: "SemanticModel", funcs, found, reach) -> None:
    """The facts of functions and methods of other modules, from their summaries in the index."""
    if model.project is None:
        return
    for func in funcs:
        summary = model.project.replacement_of(func)
        if summary is not None and summary[0]:
            found.setdefault(id(func), set()).update(summary[0])
        if summary is not None and summary[1]:
            reach.setdefault(id(func), set()).update(summary[1])


def _reached_paths(resolver: Resolver, call, callee, reach, found) -> Iterator[str]:
    """The caller's paths whose state a call replaces through the methods its callee calls on
    what it is given, when the object the method is called on is known at the call."""
    for root, chain, method in list(reach.get(id(callee), ())):
        given = resolver.argument(callee, call, root)
        if given is None:
            continue
        followed = resolver.follow(call, given[0], given[1], chain)
        if followed is None or followed[2]:
            continue
        node, value, _ = followed
        path = _lands(resolver, call, node, value, method, reach, found)
        if path is not None:
            yield path


def _lands(resolver: Resolver, call, node, value, method: str, reach, found, depth: int = 0) -> Optional[str]:
    """The caller's path of the object whose state calling ``method`` on ``node`` (known at
    ``call``) replaces: ``node`` itself when the method replaces ``self``'s, or, through a
    method it calls on an attribute bound from what the object was built with, that object
    (a wrapper of a wrapper)."""
    targets = resolver.methods(value, method, call)
    _seed(resolver.model, targets, found, reach)
    for target in targets:
        if target.self_name is None:
            continue
        if target.self_name in found.get(id(target), set()) and dotted(node) is not None:
            return dotted(node)
        for root, chain, inner in list(reach.get(id(target), ())) if depth < 4 else ():
            if root != target.self_name:
                continue
            followed = resolver.follow(call, node, value, chain)
            if followed is not None and not followed[2]:
                path = _lands(resolver, call, followed[0], followed[1], inner, reach, found, depth + 1)
                if path is not None:
                    return path
    return None


def _forwarded(resolver: Resolver, call, callee, reach) -> Iterator[tuple[str, tuple[str, ...], str]]:
    """The callee's receiver calls that land on a path rooted in the caller's own parameter: they
    become the caller's (bottom-up)."""
    caller = call.ctx.func
    if caller.node is None:
        return
    for root, chain, method in list(reach.get(id(callee), ())):
        given = resolver.argument(callee, call, root)
        if given is None:
            continue
        followed = resolver.follow(call, given[0], given[1], chain)
        if followed is None:
            continue
        node, value, rest = followed
        if not rest and resolver.methods(value, method, call):
            continue  # the class is known here: resolved by _reached_paths
        path = dotted(node)
        if path is None:
            continue
        head, *tail = path.split(".")
        if head in caller.params and not (head == caller.self_name and not tail and not rest):
            yield head, tuple(tail) + rest, method


def _given_paths(model, call, callee, found) -> Iterator[str]:
    """The dotted paths a call passes to the parameters its callee replaces state of."""
    replaced = found.get(id(callee))
    if not replaced:
        return
    params = list(callee.params)
    node = call.node
    if callee.cls is not None and params and isinstance(node.func, cst.Attribute):
        if params[0] in replaced:
            path = dotted(node.func.value)
            if path is not None:
                yield path
        params = params[1:]
    positional = [a for a in node.args if a.keyword is None and not a.star]
    for index, arg in enumerate(positional):
        if index < len(params) and params[index] in replaced:
            path = dotted(arg.value)
            if path is not None:
                yield path
    for arg in node.args:
        if arg.keyword is not None and arg.keyword.value in replaced:
            path = dotted(arg.value)
            if path is not None:
                yield path


def _statements(body: cst.CSTNode) -> Iterator[cst.SimpleStatementLine]:
    """The simple statements of a function body in source order (not nested functions or classes)."""
    stack = [body]
    out: list[cst.SimpleStatementLine] = []
    while stack:
        node = stack.pop()
        if isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)) and node is not body:
            continue
        if isinstance(node, cst.SimpleStatementLine):
            out.append(node)
            continue
        stack.extend(reversed(children(node)))
    return iter(out)


def _optimizer_over(model: "SemanticModel", value: cst.BaseExpression) -> Optional[str]:
    """``P`` when ``value`` is ``torch.optim.X(... P.parameters() ...)``."""
    if not isinstance(value, cst.Call):
        return None
    qual = model.imports.qualname(value.func) or ""
    if not qual.startswith("torch.optim.") or qual.startswith("torch.optim.lr_scheduler") \
            or not qual.rsplit(".", 1)[-1][:1].isupper():
        return None
    params = [a.value for a in value.args if a.keyword is None][:1] + \
        [a.value for a in value.args if a.keyword is not None and a.keyword.value == "params"]
    for expr in params:
        stack: list[cst.CSTNode] = [expr]
        while stack:
            node = stack.pop()
            if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) \
                    and node.func.attr.value in _PARAMETER_LISTS:
                return dotted(node.func.value)
            stack.extend(children(node))
    return None


def _under(path: str, owner: str) -> bool:
    return path == owner or path.startswith(owner + ".")


def stale_optimizers(model: "SemanticModel", lazy: Callable[["AttrAssign"], bool]) -> list[StaleOptimizer]:
    """Each statement that replaces state an optimizer of the same function holds, with that
    optimizer's next use (``lazy``: the caller's test of a one-time creation)."""
    replaced, through = replaced_params(model, lazy)
    assigns_at: dict[int, list] = {}
    for assign in model.attr_assigns:
        if assign.ctx.stmt is not None:
            assigns_at.setdefault(id(assign.ctx.stmt), []).append(assign)
    calls_at: dict[int, list] = {}
    for call in model.arg_calls:
        if call.ctx.stmt is not None:
            calls_at.setdefault(id(call.ctx.stmt), []).append(call)
    found: list[StaleOptimizer] = []
    for func in model.funcs:
        body = func.node.body if func.node is not None else model.module
        held: dict[str, tuple[str, cst.CSTNode]] = {}  # optimizer name -> (owner path, construction)
        pending: dict[str, list[tuple[cst.CSTNode, str]]] = {}
        for stmt in _statements(body):
            if isinstance(func.node, cst.FunctionDef) and stmt is body:
                continue
            bound = _bound_names(stmt)
            used = {n.value for n in descendants(stmt) if isinstance(n, cst.Name)} - bound
            for name in list(pending):
                if name in used:
                    if not _hands_over(stmt, name):
                        owner, built = held[name]
                        for node, what in pending[name]:
                            found.append(StaleOptimizer(node, what, name, owner, built, stmt))
                    del pending[name]
            for name in bound:
                held.pop(name, None)
                pending.pop(name, None)
            small = stmt.body[0] if len(stmt.body) == 1 else None
            if isinstance(small, cst.Assign) and len(small.targets) == 1 \
                    and isinstance(small.targets[0].target, cst.Name):
                owner = _optimizer_over(model, small.value)
                if owner is not None:
                    held[small.targets[0].target.value] = (owner, stmt)
                    continue
            for name, (owner, _) in held.items():
                what = _replacement_in(model, stmt, owner, assigns_at, calls_at, (replaced, through), func)
                if what is not None:
                    pending.setdefault(name, []).append((stmt, what))
    return found


def _bound_names(stmt: cst.SimpleStatementLine) -> set[str]:
    names: set[str] = set()
    for small in stmt.body:
        targets = []
        if isinstance(small, cst.Assign):
            targets = [t.target for t in small.targets]
        elif isinstance(small, (cst.AnnAssign, cst.AugAssign)):
            targets = [small.target]
        for target in targets:
            if isinstance(target, cst.Name):
                names.add(target.value)
            elif isinstance(target, (cst.Tuple, cst.List)):
                names.update(e.value.value for e in target.elements if isinstance(e.value, cst.Name))
    return names


def _hands_over(stmt: cst.SimpleStatementLine, name: str) -> bool:
    """``opt.add_param_group(...)``: the new parameters are given to the optimizer."""
    text_calls = [n for n in descendants(stmt)
                  if isinstance(n, cst.Call) and isinstance(n.func, cst.Attribute) and dotted(n.func.value) == name]
    return bool(text_calls) and all(c.func.attr.value == "add_param_group" for c in text_calls)


def _replacement_in(model, stmt, owner: str, assigns_at, calls_at, replaced, func) -> Optional[str]:
    """What ``stmt`` replaces under ``owner`` (a description), or None."""
    for assign in assigns_at.get(id(stmt), []):
        if assign.ctx.func is not func or not replaces_state(model, assign):
            continue
        path = dotted(assign.owner_node)
        if path is not None and _under(path, owner):
            return f"`{model.text(assign.owner_node)}.{assign.attr}`" if assign.attr != "<name>" \
                else f"a child of `{model.text(assign.owner_node)}`"
    replaced, through = replaced
    for call in calls_at.get(id(stmt), []):
        if call.ctx.func is not func:
            continue
        if any(_under(path, owner) for path in through.get(id(call.node), ())):
            return f"the call `{model.text(call.node.func)}(...)`"
        for callee in model.callees(call):
            if any(_under(path, owner) for path in _given_paths(model, call, callee, replaced)):
                return f"the call `{model.text(call.node.func)}(...)`"
    return None

"""Function summaries: which parameters a function writes in place, and what its calls then do.

A function's summary lists the in-place writes whose target is one of its parameters (or a
view of one), with the grad mode they run under. A call of that function whose argument is a
leaf that requires grad makes that write a write on the leaf: the model records it *at the
write* (where torch raises, so the probe's event lands on the same line), naming the call
that passes the leaf. Writes propagate bottom-up: a function that passes its own parameter to
such a helper writes that parameter too.

What a function returns is summarised while the file is read (``Collector.call_summary``), for
the calls that come after the function in the file; ``returned_value`` answers the same question
once the whole file is read, for a call of a function or method defined anywhere in it (a helper
method below ``__init__``).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Callable, Optional

import libcst as cst

from leaflint.model.facts import ArgCall, CallRef, Context, DataWrite, FuncInfo, Grad, InplaceSite
from leaflint.model.roots import MODULE
from leaflint.model.values import PATH_STEPS, Arg, Attr, Key, PlainTensor, TensorList, Value, path_root

if TYPE_CHECKING:
    from leaflint.model.semantic import SemanticModel

_ROUNDS = 8  # helpers of helpers: deep enough for real code, bounded for pathological files


def propagate_upward(calls: list[ArgCall], pending: dict[int, list], callees_of: Callable[[ArgCall], list[FuncInfo]],
                     lift: Callable[[ArgCall, FuncInfo, object], list], mark: Callable[[object], object] = id) -> None:
    """Per-parameter facts of functions (function id -> facts), carried bottom-up over the call
    graph in bounded rounds: each call of a function with pending facts hands every fact, once per
    call and callee (``mark`` tells facts apart), to ``lift(call, callee, fact)``, which judges it at the call
    and returns the facts the caller inherits (they are the next round's pending facts)."""
    seen: set = set()
    for _ in range(_ROUNDS):
        if not pending:
            break
        upward: dict[int, list] = {}
        for call in calls:
            for callee in callees_of(call):
                if callee is call.ctx.func or id(callee) not in pending:
                    continue
                for fact in pending[id(callee)]:
                    key = (id(call.node), id(callee), mark(fact))
                    if key in seen:
                        continue
                    seen.add(key)
                    for lifted in lift(call, callee, fact):
                        upward.setdefault(id(call.ctx.func), []).append(lifted)
        pending = upward


def project_facts(model: "SemanticModel", calls: list[ArgCall], facts_of: Callable[[str], list]) -> dict[int, list]:
    """What the project index says of the functions of other modules that these calls reach
    (``facts_of(pid)``: their writes, their setattr flows): function id -> facts."""
    found: dict[int, list] = {}
    if model.project is None:
        return found
    for call in calls:
        if call.key[0] == "project":
            info = model.project.function_info(call.key[1])
            facts = facts_of(call.key[1])
            if info is not None and facts:
                found[id(info)] = facts
    return found


def single_callee(model: "SemanticModel") -> Callable[[ArgCall], list[FuncInfo]]:
    """The callee of a call when its name resolves to exactly one function, else none."""
    def callees_of(call: ArgCall) -> list[FuncInfo]:
        callees = model.callees(CallRef(call.key, call.scope, call.ctx))
        return callees if len(callees) == 1 else []
    return callees_of


def arg_root(value: Optional[Value]) -> Optional[Arg]:
    """The parameter a value is a path into (a view of it, an attribute, an element), if any."""
    root = path_root(value)
    return root if isinstance(root, Arg) else None


def substitute(value: Optional[Value], replacement: Value) -> Optional[Value]:
    """The write's target with the parameter replaced by the caller's argument: the same path
    (views, attributes, lookups, elements) from the caller's value."""
    if isinstance(value, PATH_STEPS):
        inner = substitute(value.base, replacement)
        if inner is None:
            return None
        if isinstance(value, Attr):
            return Attr(inner, value.name)
        if isinstance(value, Key):
            return Key(inner, value.key)
        return type(value)(inner)  # type: ignore[call-arg]
    if isinstance(value, Arg):
        return replacement
    return None


def _bound_params(callee: FuncInfo, call: ArgCall) -> list[str]:
    """The callee's parameters that a call's positional arguments fill, in order: without the
    instance (``obj.m(x)``, ``self.m(x)``) or the class (a classmethod) that the call binds."""
    params = list(callee.params)
    if params and (call.key[0] == "method" and (callee.self_name is not None or callee.classmethod)
                   or call.key[0] == "static" and callee.classmethod):
        params = params[1:]
    return params


def bind_arguments(callee: FuncInfo, call: ArgCall) -> dict[str, tuple[Optional[Value], object]]:
    """Parameter name -> (argument value, argument node) for one call; the ``*args`` parameter
    gets the list of the extra positional arguments (its node: the first of them)."""
    params = _bound_params(callee, call)
    bound: dict[str, tuple[Optional[Value], object]] = {}
    extra: list[tuple[Optional[Value], object]] = []
    position = 0
    for keyword, value, node in call.args:
        if keyword is None:
            if position < len(params):
                bound[params[position]] = (value, node)
            else:
                extra.append((value, node))
            position += 1
        elif keyword in params:
            bound[keyword] = (value, node)
    if callee.star is not None and extra:
        bound[callee.star] = (TensorList(tuple(v for v, _ in extra)), extra[0][1])
    return bound


def own_param(func: FuncInfo, name: str) -> bool:
    """Whether ``name`` is one of ``func``'s parameters (``*args`` included), not its ``self``."""
    return (name in func.params or name == func.star) and name != func.self_name


@dataclasses.dataclass(frozen=True)
class ParamWrite:
    """An in-place write, inside a function, into (a view of) one of its parameters."""

    target: Value  # rooted in the function's ``Arg``
    site: InplaceSite  # the write itself, possibly in a function this one calls
    grad: Grad  # ON: grad is on at the write whatever the caller; INHERIT: the caller's mode
    handled: frozenset[str]


def _initial_writes(sites: list[InplaceSite]) -> dict[int, list[ParamWrite]]:
    """Function id -> the in-place sites that write one of its parameters."""
    found: dict[int, list[ParamWrite]] = {}
    for site in sites:
        root = arg_root(site.target)
        func = site.ctx.func
        if root is None or not own_param(func, root.name):
            continue
        if site.ctx.grad not in (Grad.ON, Grad.INHERIT):
            continue
        found.setdefault(id(func), []).append(ParamWrite(site.target, site, site.ctx.grad, site.ctx.handled))
    return found


def call_site_writes(model: "SemanticModel", calls: list[ArgCall],
                     summary: Optional[dict[int, list[ParamWrite]]] = None) -> list[InplaceSite]:
    """The writes of parameter-writing functions whose argument, at some call, is known.

    Each is recorded *at the write* (where torch raises, and where the probe sees it), with the
    leaf substituted for the parameter and the call that passes it (``via_call``); the grad mode
    is the call's unless the write itself turns grad on. A call that passes one of the caller's
    own parameters makes the write part of the caller's summary (bottom-up, bounded rounds).

    A function of another module of the project (its summary in the project index) writes its
    parameters as its summary says; the write is then reported in that module (``foreign``).
    ``summary``, when given, receives every function's writes into its parameters (function id ->
    writes), for this module's own summary in the index."""
    derived: list[InplaceSite] = []
    pending = _initial_writes(model.inplace)
    if summary is not None:
        for key, writes in pending.items():
            summary.setdefault(key, []).extend(writes)
    pending.update(project_facts(model, calls, lambda pid: model.project.function_writes(pid)))  # type: ignore[union-attr]

    def lift(call: ArgCall, callee: FuncInfo, write: ParamWrite) -> list[ParamWrite]:
        root = arg_root(write.target)
        argument = bind_arguments(callee, call).get(root.name) if root is not None else None
        if argument is None or argument[0] is None:
            return []
        target = substitute(write.target, argument[0])
        if target is None:
            return []
        handled = write.handled | call.ctx.handled
        caller = call.ctx.func
        if arg_root(target) is not None and own_param(caller, arg_root(target).name):  # type: ignore[union-attr]
            grad = Grad.ON if write.grad is Grad.ON else call.ctx.grad
            if grad not in (Grad.ON, Grad.INHERIT):
                return []
            inherited = ParamWrite(target, write.site, grad, handled)
            if summary is not None:
                summary.setdefault(id(caller), []).append(inherited)
            return [inherited]
        grad = Grad.ON if write.grad is Grad.ON else model.grad_at(call.ctx)
        ctx = dataclasses.replace(write.site.ctx, grad=grad, handled=handled)
        derived.append(InplaceSite(write.site.kind, write.site.node, target, write.site.target_node,
                                   write.site.detail, ctx, via_call=call.node,
                                   via_arg=argument[1], foreign=write.site.foreign))  # type: ignore[arg-type]
        return []

    propagate_upward(calls, pending, single_callee(model), lift)  # type: ignore[arg-type]
    return derived


# ---------------------------------------------------------------- .data writes on a graph argument


def _passed_callees(model: "SemanticModel", call: ArgCall, calls: list[ArgCall]) -> list[FuncInfo]:
    """The functions a call may run: the ones its name resolves to, or, when it calls one of the
    enclosing function's parameters (``def step(G, scale_fn): scale_fn(G(z))``), the functions of
    this file that the enclosing function's callers pass for that parameter."""
    callees = model.callees(CallRef(call.key, call.scope, call.ctx))
    caller = call.ctx.func
    if callees or call.key[0] != "name" or call.key[1] not in caller.params:
        return callees
    found: list[FuncInfo] = []
    for outer in calls:
        if caller not in model.callees(CallRef(outer.key, outer.scope, outer.ctx)):
            continue
        argument = bind_arguments(caller, outer).get(call.key[1])
        node = argument[1] if argument is not None else None
        if isinstance(node, cst.Name):
            found.extend(f for f in model.callees(CallRef(("name", node.value), outer.scope, outer.ctx))
                         if f not in found)
    return found


def _bound_roots(callee: FuncInfo, call: ArgCall) -> dict[str, frozenset[str]]:
    """Parameter name -> the graph roots of the argument a call passes for it."""
    params = _bound_params(callee, call)
    bound: dict[str, frozenset[str]] = {}
    position = 0
    for (keyword, _, _), roots in zip(call.args, call.arg_roots):
        if keyword is None:
            if position < len(params):
                bound[params[position]] = roots
            position += 1
        elif keyword in params:
            bound[keyword] = roots
    return bound


def graph_argument_writes(model: "SemanticModel", calls: list[ArgCall]) -> dict[int, cst.Call]:
    """``.data`` writes on a value computed from a function's parameter, where a call passes that
    parameter a graph value (a module's output) and a backward() follows the call in the caller:
    id of the write -> the call. The write is hidden from autograd, so that backward computes a
    silently wrong gradient (``fake = G(z); clamp_data(fake); D(fake).mean().backward()``).

    A caller that passes its own parameter on makes the write part of its own summary (bounded
    rounds), so the judgement is made where the graph value and the backward() are."""
    pending: dict[int, list[tuple[str, DataWrite]]] = {}
    for write in model.data_writes:
        func = write.ctx.func
        if write.ctx.grad not in (Grad.ON, Grad.INHERIT):
            continue
        for root in write.roots:
            if root in func.params and root != func.self_name:
                pending.setdefault(id(func), []).append((root, write))
    found: dict[int, cst.Call] = {}

    def lift(call: ArgCall, callee: FuncInfo, fact: tuple[str, DataWrite]) -> list[tuple[str, DataWrite]]:
        param, write = fact
        roots = _bound_roots(callee, call)
        if param not in roots or model.grad_at(call.ctx) is Grad.OFF:
            return []
        caller = call.ctx.func
        if MODULE in roots[param] and _backward_after(caller, call.seq):
            found.setdefault(id(write), call.node)
        return [(outer, write) for outer in roots[param] - {MODULE}
                if outer in caller.params and outer != caller.self_name]

    propagate_upward(calls, pending, lambda call: _passed_callees(model, call, calls), lift,  # type: ignore[arg-type]
                     mark=lambda fact: (id(fact[1]), fact[0]))
    return found


def _backward_after(func: FuncInfo, seq: int) -> bool:
    return any(kind == "backward" and event_seq > seq for event_seq, _, kind, _ in func.events)


def _call_key(node: cst.Call, func: FuncInfo) -> Optional[tuple]:
    """``helper(...)`` -> ("name", helper); ``self.helper(...)`` in a method -> ("method", cls, helper)."""
    if isinstance(node.func, cst.Name):
        return ("name", node.func.value)
    if isinstance(node.func, cst.Attribute) and isinstance(node.func.value, cst.Name) \
            and func.cls is not None and node.func.value.value == func.self_name:
        return ("method", func.cls.name, node.func.attr.value)
    return None


def returned_value(model: "SemanticModel", node: cst.CSTNode, ctx: Context) -> Optional[Value]:
    """What a call of one function or method of this file gives, when every ``return`` of it gives a
    plain tensor (not a Parameter): ``PlainTensor``; anything else, or a function with no
    ``return`` (it gives None), a generator, several candidate callees: unknown (None)."""
    if not isinstance(node, cst.Call):
        return None
    key = _call_key(node, ctx.func)
    if key is None:
        return None
    scope: list[FuncInfo] = []
    current: Optional[FuncInfo] = ctx.func
    while current is not None and current.node is not None:
        scope.insert(0, current)
        current = current.parent
    callees = model.callees(CallRef(key, tuple(scope), ctx))
    if len(callees) != 1 or callees[0] is ctx.func:
        return None
    returns = callees[0].returns
    if returns and all(isinstance(r, PlainTensor) for r in returns):
        return PlainTensor()
    return None

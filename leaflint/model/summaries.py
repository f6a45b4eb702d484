"""Function summaries: which parameters a function writes in place, and what its calls then do.

A function's summary lists the in-place writes whose target is one of its parameters (or a
view of one), with the grad mode they run under. A call of that function whose argument is a
leaf that requires grad is then the same write on that leaf: the model records it *at the
call* (the call is where the leaf is known; one helper is often called with leaves and with
plain tensors), naming the write inside. Writes propagate bottom-up: a function that passes its
own parameter to such a helper writes that parameter too.

What a function returns is summarised while the file is read (``Collector.call_summary``).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Optional

from leaflint.model.facts import ArgCall, CallRef, Context, FuncInfo, Grad, InplaceSite
from leaflint.model.values import Arg, Value, View

if TYPE_CHECKING:
    from leaflint.model.semantic import SemanticModel

_ROUNDS = 8  # helpers of helpers: deep enough for real code, bounded for pathological files


def arg_root(value: Optional[Value]) -> Optional[Arg]:
    """The parameter a value is (a view of), if any."""
    while isinstance(value, View):
        value = value.base
    return value if isinstance(value, Arg) else None


def _substitute(value: Optional[Value], replacement: Value) -> Optional[Value]:
    """The write's target with the parameter replaced by the caller's argument."""
    if isinstance(value, View):
        inner = _substitute(value.base, replacement)
        return View(inner) if inner is not None else None
    if isinstance(value, Arg):
        return replacement
    return None


def _bind_arguments(callee: FuncInfo, call: ArgCall) -> dict[str, tuple[Optional[Value], object]]:
    """Parameter name -> (argument value, argument node) for one call."""
    params = list(callee.params)
    if call.key[0] == "method" and callee.self_name is not None and params:
        params = params[1:]
    bound: dict[str, tuple[Optional[Value], object]] = {}
    position = 0
    for keyword, value, node in call.args:
        if keyword is None:
            if position < len(params):
                bound[params[position]] = (value, node)
            position += 1
        elif keyword in params:
            bound[keyword] = (value, node)
    return bound


def _writes_into_parameters(sites: list[InplaceSite]) -> dict[int, list[InplaceSite]]:
    """Function id -> the in-place sites (found or derived) that write one of its parameters."""
    found: dict[int, list[InplaceSite]] = {}
    for site in sites:
        root = arg_root(site.target)
        func = site.ctx.func
        if root is None or root.name not in func.params or root.name == func.self_name:
            continue
        if site.ctx.grad in (Grad.OFF, Grad.UNKNOWN):
            continue
        found.setdefault(id(func), []).append(site)
    return found


def call_site_writes(model: "SemanticModel", calls: list[ArgCall]) -> list[InplaceSite]:
    """In-place sites at calls that hand a function's parameter-writing summary a leaf (or a
    parameter of the caller, which becomes part of the caller's summary)."""
    derived: list[InplaceSite] = []
    seen: set[tuple[int, int]] = set()
    sites = list(model.inplace)
    for _ in range(_ROUNDS):
        writes = _writes_into_parameters(sites)
        if not writes:
            break
        new: list[InplaceSite] = []
        for call in calls:
            callees = model.callees(CallRef(call.key, call.scope, call.ctx))
            if len(callees) != 1 or callees[0] is call.ctx.func:
                continue
            callee = callees[0]
            bound = None
            for write in writes.get(id(callee), ()):
                if (id(call.node), id(write)) in seen:
                    continue
                bound = bound if bound is not None else _bind_arguments(callee, call)
                root = arg_root(write.target)
                argument = bound.get(root.name) if root is not None else None
                if argument is None or argument[0] is None:
                    continue
                target = _substitute(write.target, argument[0])
                if target is None:
                    continue
                seen.add((id(call.node), id(write)))
                ctx = _call_context(call.ctx, write)
                new.append(InplaceSite(write.kind, call.node, target, argument[1], write.detail, ctx,  # type: ignore[arg-type]
                                       via=write.via or write))
        if not new:
            break
        derived.extend(new)
        sites = new
    return derived


def _call_context(ctx: Context, write: InplaceSite) -> Context:
    """The call's context; an explicit grad mode at the write inside wins over the call's."""
    grad = write.ctx.grad if write.ctx.grad is Grad.ON else ctx.grad
    return dataclasses.replace(ctx, grad=grad, handled=ctx.handled | write.ctx.handled)

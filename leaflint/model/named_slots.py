"""``setattr(m, name, value)`` with a name drawn from ``m.named_parameters()``: a write over a
Parameter slot whose name is only known at run time (the facts LL303 asks about dynamic names).

A name from ``for name, p in m.named_parameters()`` (``ParamName``) is the path of a Parameter
below ``m``; ``setattr(m, name, t)`` assigns over that Parameter when the name has no dot, and
``nn.Module.__setattr__`` then refuses a plain tensor ("cannot assign 'torch.FloatTensor' as
parameter ..."). The name has no dot at the write when:

- the write is reached only on the undotted path of a test of the name (``else`` of
  ``if "." in name:``, body of ``if "." not in name:``, after ``if "." in name: return``); or
- ``m`` has Parameters of its own: ``named_parameters()`` yields them first, so the first
  iteration writes one.

A function that hands ``setattr`` its own parameters (``def set_param(mod, name, value):
setattr(mod, name, value)``) gets a *summary*: which parameter flows to the object, which to the
name, which to the value (or the value it writes itself). The summary is judged at each call
that passes a ``ParamName`` of the object it passes, and passed on bottom-up by callers that
forward their own parameters. The finding is reported **at the write** (where torch raises,
so the probe's event lands on the same line), naming the call that makes it one.

A function that calls itself keeps its summary only when each such call *descends* along the
name: it sits on the dotted path of a test of the name, hands the value on unchanged and passes
another object (``for child_name, child in mod.named_children(): set_param(child, rest, value)``).
Walking a dotted name down the module tree that way ends at the Parameter's own module, with the
last part of the name: the write is over the Parameter either way. Any other self-call: unknown.

Not a Parameter slot: names from ``named_buffers()`` or ``named_parameters(prefix=...)``, an
object whose Parameters were deleted first (``del m._parameters[name]``), an object other than
the one the names came from.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Optional

import libcst as cst

from leaflint.model.facts import ArgCall, AttrAssign, CallRef, Context, FuncInfo
from leaflint.model.summaries import (arg_root, bind_arguments, own_param, project_facts, propagate_upward,
                                      single_callee, substitute)
from leaflint.model.syntax import contains
from leaflint.model.values import Arg, ParamName, Value

if TYPE_CHECKING:
    from leaflint.model.semantic import SemanticModel


@dataclasses.dataclass(frozen=True)
class NamedSlotWrite:
    """``setattr(owner, name, value)`` where ``name`` is a ``ParamName``: the write, the values the
    call that reaches it gives (``via_call``: that call; None when the write itself names them)."""

    assign: AttrAssign
    owner: Optional[Value]
    name: ParamName
    value: Optional[Value]
    undotted: bool  # the name has no dot wherever the write runs
    via_call: Optional[cst.Call] = None
    foreign: Optional[object] = None  # the write is in another module (``model.project.Spot``)


@dataclasses.dataclass(frozen=True)
class SetattrFlow:
    """A function's ``setattr`` of its own parameters: object path, name parameter, value."""

    owner: Value  # rooted in the function's ``Arg``
    name: str
    value: Optional[Value]  # an ``Arg`` of the function, or what it writes itself
    undotted: bool
    assign: AttrAssign
    foreign: Optional[object] = None  # a write in another module (``model.project.Spot``): reported there


def _dot_test(test: cst.BaseExpression, name: str) -> Optional[bool]:
    """``"." in name`` -> True, ``"." not in name`` -> False, anything else -> None."""
    if not isinstance(test, cst.Comparison) or len(test.comparisons) != 1:
        return None
    target = test.comparisons[0]
    if not (isinstance(test.left, cst.SimpleString) and test.left.evaluated_value == "."
            and isinstance(target.comparator, cst.Name) and target.comparator.value == name):
        return None
    if isinstance(target.operator, cst.In):
        return True
    if isinstance(target.operator, cst.NotIn):
        return False
    return None


def _known_dotted(ctx: Context, name: str) -> Optional[bool]:
    """Whether ``name`` has a dot at ``ctx`` by the tests around it: True, False, or None."""
    for node in ctx.ifs:
        dotted = _dot_test(node.test, name)
        if dotted is None:
            continue
        in_body = contains(node.body, ctx.stmt)
        if in_body:
            return dotted
        if node.orelse is not None and contains(node.orelse, ctx.stmt):
            return not dotted
    for node in ctx.exits:  # ``if "." in name: ...; return`` earlier in the block: its test is false here
        dotted = _dot_test(node.test, name)
        if dotted is not None:
            return not dotted
    return None


def _name_node(assign: AttrAssign) -> Optional[cst.BaseExpression]:
    node = assign.node
    return node.args[1].value if isinstance(node, cst.Call) and len(node.args) == 3 else None


def _undotted_at(assign: AttrAssign) -> bool:
    name = _name_node(assign)
    return isinstance(name, cst.Name) and _known_dotted(assign.ctx, name.value) is False


def _descends(model: "SemanticModel", func: FuncInfo, flow: SetattrFlow, calls: list[ArgCall]) -> bool:
    """Whether every call ``func`` makes of itself walks down the dotted name (module docstring)."""
    for call in calls:
        if call.ctx.func is not func or model.callees(CallRef(call.key, call.scope, call.ctx)) != [func]:
            continue
        if _known_dotted(call.ctx, flow.name) is not True:
            return False
        bound = bind_arguments(func, call)
        root = arg_root(flow.owner)
        owner = bound.get(root.name) if root is not None else None
        if owner is None or owner[0] == flow.owner:
            return False
        if isinstance(flow.value, Arg):
            value = bound.get(flow.value.name)
            if value is None or value[0] != flow.value:
                return False
    return True


def named_slot_writes(model: "SemanticModel", calls: list[ArgCall],
                      summary: Optional[dict[int, list[SetattrFlow]]] = None) -> list[NamedSlotWrite]:
    """Every ``setattr`` whose name is a ``ParamName``, directly or through the summaries of the
    functions that reach it (bottom-up, bounded rounds). A function of another module hands
    ``setattr`` its parameters as its summary in the project index says; the write is then reported
    in that module. ``summary``, when given, receives every function's flows (function id -> flows),
    for this module's own summary in the index."""
    found: list[NamedSlotWrite] = []
    pending: dict[int, list[SetattrFlow]] = {}
    for assign in model.attr_assigns:
        if assign.attr != "<name>" or assign.name_value is None:
            continue
        func = assign.ctx.func
        if isinstance(assign.name_value, ParamName):
            found.append(NamedSlotWrite(assign, assign.owner, assign.name_value, model.value_assigned(assign),
                                        _undotted_at(assign)))
            continue
        name, root = assign.name_value, arg_root(assign.owner)
        if not isinstance(name, Arg) or root is None or not own_param(func, name.name) \
                or not own_param(func, root.name):
            continue
        if model.parameters_deleted(assign.owner):
            continue
        value = assign.value
        if isinstance(value, Arg) and not own_param(func, value.name):
            continue
        flow = SetattrFlow(assign.owner, name.name, value, _undotted_at(assign), assign)  # type: ignore[arg-type]
        if _descends(model, func, flow, calls):
            pending.setdefault(id(func), []).append(flow)
    pending.update(project_facts(model, calls, lambda pid: model.project.function_setattrs(pid)))  # type: ignore[union-attr]
    if summary is not None:
        for key, flows in pending.items():
            summary.setdefault(key, []).extend(flows)
    def lift(call: ArgCall, callee: FuncInfo, flow: SetattrFlow) -> list[SetattrFlow]:
        bound = bind_arguments(callee, call)
        caller = call.ctx.func
        root = arg_root(flow.owner)
        owner_arg = bound.get(root.name) if root is not None else None
        name_arg = bound.get(flow.name)
        if owner_arg is None or owner_arg[0] is None or name_arg is None:
            return []
        owner = substitute(flow.owner, owner_arg[0])
        value = flow.value
        if isinstance(value, Arg):
            given = bound.get(value.name)
            value = given[0] if given is not None else None
        name = name_arg[0]
        if isinstance(name, ParamName):
            found.append(NamedSlotWrite(flow.assign, owner, name, value, flow.undotted, call.node, flow.foreign))
        elif isinstance(name, Arg) and own_param(caller, name.name) and arg_root(owner) is not None \
                and own_param(caller, arg_root(owner).name) and not model.parameters_deleted(owner) \
                and (not isinstance(value, Arg) or own_param(caller, value.name)):
            forwarded = SetattrFlow(owner, name.name, value, flow.undotted, flow.assign,  # type: ignore[arg-type]
                                    flow.foreign)
            if _descends(model, caller, forwarded, calls):
                if summary is not None:
                    summary.setdefault(id(caller), []).append(forwarded)
                return [forwarded]
        return []

    propagate_upward(calls, pending, single_callee(model), lift)  # type: ignore[arg-type]
    return found


def over_parameter(model: "SemanticModel", write: NamedSlotWrite) -> bool:
    """Whether the write assigns over a Parameter: the names are those of the object written
    (nothing deleted from it), and the name has no dot there or the object has Parameters of its
    own (module docstring)."""
    if write.name.base is None or write.name.base != write.owner or model.parameters_deleted(write.owner):
        return False
    return write.undotted or model.owns_parameters_directly(write.owner)

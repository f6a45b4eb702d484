"""Judgements about the program that rules, fixes and the probe share.

- ``is_backward_call``: the one test of "this call runs a backward pass" (``loss.backward()``,
  ``scaler.scale(loss).backward()``, ``accelerator.backward(loss)``, ``self.manual_backward(loss)``,
  ``torch.autograd.backward``/``grad``), used by the model's event stream, by
  ``leaflint.blocks`` (where a write can move) and by the fixes (is a backward before here?);
- ``backward_before``: is there a backward call in a function before a given point;
- ``harm`` / ``harmful_reason``: why a ``.data`` write is harmful where it is (LL201's
  contexts), which LL201 reports and LL202's fix must not paper over.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import libcst as cst

from leaflint.findings import short
from leaflint.model.facts import DataWrite, Grad
from leaflint.model.flow import one_time_guard
from leaflint.model.imports import dotted
from leaflint.model.roots import MODULE
from leaflint.model.torchapi import MASKING_METHODS
from leaflint.model.walk import children, descendants

# Functions that run a backward pass, by qualified name (a method call is recognised by its name).
BACKWARD_FUNCS = frozenset({"torch.autograd.backward", "torch.autograd.grad"})


def call_name(call: cst.Call) -> str:
    """The last name of what ``call`` calls: ``backward`` for ``loss.backward()`` and ``backward(x)``."""
    func = call.func
    if isinstance(func, cst.Attribute):
        return func.attr.value
    if isinstance(func, cst.Name):
        return func.value
    return ""


def is_backward_call(call: cst.Call, qualname: Optional[str] = None) -> bool:
    """Whether ``call`` runs a backward pass: a callee whose name ends in ``backward``, or
    ``qualname`` (the callee's resolved name, when the caller knows it) is one of BACKWARD_FUNCS."""
    return qualname in BACKWARD_FUNCS or call_name(call).endswith("backward")


def backward_before(func: cst.FunctionDef, before: Callable[[cst.Call], bool]) -> bool:
    """Whether ``func``'s own body (not nested functions, classes or lambdas) has a backward
    call for which ``before(call)`` holds (the caller's test of "ends before this point")."""
    stack: list[cst.CSTNode] = [func.body]
    while stack:
        node = stack.pop()
        if isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            continue
        if isinstance(node, cst.Call) and is_backward_call(node) and before(node):
            return True
        stack.extend(children(node))
    return False


# ------------------------------------------------------------------------- harmful .data writes
# Conversions that copy a tensor's values rather than compute from them.
COPYING_METHODS = frozenset({"to", "clone", "type", "float", "double", "half", "bfloat16", "cpu", "cuda",
                             "contiguous", "type_as", "view_as", "reshape", "view", "t", "T",
                             "expand", "expand_as", "repeat", "squeeze", "unsqueeze", "flatten"})


def is_copy_of(node: cst.CSTNode, source: cst.CSTNode) -> bool:
    """True when ``node`` is ``source`` or a conversion of it (``source.to(device)``)."""
    while True:
        if node is source:
            return True
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) \
                and node.func.attr.value in COPYING_METHODS:
            node = node.func.value
            continue
        return False


def discarded_graph_source(model, write: DataWrite) -> Optional[str]:
    """The leaf whose graph a ``.data = value`` assignment throws away, if any. The written
    tensor's own graph counts inside forward only (there the weight is overwritten on every call
    with a computation autograd never sees); elsewhere ``p.data = p - lr * p.grad`` is a step."""
    if write.kind != "assign" or write.value_node is None:
        return None
    in_forward = model.in_forward(write.ctx)
    if not in_forward and _steps_with_own_grad(write):
        return None  # ``p.data = p.data - lr * p.grad``: an update step, never differentiated
    for value, node in write.rhs:
        if (value == write.target and not in_forward) or model.leaf(value) is None:
            continue
        if not in_forward and _same_owner(write.target_node, node):
            continue  # a module re-deriving its own parameter from its own state (a load, a transform)
        if is_copy_of(write.value_node, node):
            continue
        return model.text(node)
    if MODULE in write.value_roots and model.leaf(write.target) is not None:
        return model.text(write.value_node)  # a parameter given a module's output (``p.data = net(x)``)
    return None


def _steps_with_own_grad(write: DataWrite) -> bool:
    """Whether the new value reads the written tensor's own ``.grad``: an optimizer-style update,
    whatever scales the gradient (a learned rate's graph is not meant to reach the weights)."""
    target = dotted(write.target_node) if write.target_node is not None else None
    if target is None or write.value_node is None:
        return False
    return any(isinstance(node, cst.Attribute) and node.attr.value == "grad" and dotted(node.value) == target
               for node in descendants(write.value_node))


def _same_owner(target: Optional[cst.CSTNode], source: cst.CSTNode) -> bool:
    """``self.a.data = f(self.b)``: both attributes of one object."""
    if not (isinstance(target, cst.Attribute) and isinstance(source, cst.Attribute)):
        return False
    owner = dotted(target.value)
    return owner is not None and owner == dotted(source.value)


def target_text(model, write: DataWrite) -> str:
    """The source text of the tensor a ``.data`` write writes (``x`` when it has none)."""
    return model.text(write.target_node) if write.target_node is not None else "x"


# Calls that draw random values: written into a tensor, they perturb it by chance.
RANDOM_CALLS = frozenset({"rand", "randn", "randint", "rand_like", "randn_like", "randint_like", "normal",
                          "bernoulli", "multinomial", "poisson", "randperm", "normal_", "uniform_",
                          "bernoulli_", "exponential_", "geometric_", "cauchy_", "log_normal_", "random_"})


def _draws_random(node: Optional[cst.CSTNode]) -> bool:
    """Whether an expression draws random values (``torch.randn_like(w) * s``, ``w.new(n).normal_()``)."""
    return node is not None and any(isinstance(current, cst.Call) and call_name(current) in RANDOM_CALLS
                                    for current in descendants(node))


def perturbs(write: DataWrite) -> bool:
    """A write that adds random values (noise): written in forward, the noise of every call
    accumulates in the weights, and autograd never sees it."""
    if write.kind == "inplace":
        return write.detail in RANDOM_CALLS or (isinstance(write.node, cst.Call) and any(
            _draws_random(arg.value) for arg in write.node.args))
    if write.kind == "augassign":
        return isinstance(write.node, cst.AugAssign) and _draws_random(write.node.value)
    return False


def masks(write: DataWrite) -> bool:
    """A write that multiplies, masks, drops or randomly perturbs the values (not a clamp or a
    projection)."""
    if perturbs(write):
        return True
    if write.kind == "inplace":
        return write.detail in MASKING_METHODS
    if write.kind == "augassign":
        return isinstance(write.node, cst.AugAssign) and isinstance(write.node.operator, cst.MultiplyAssign)
    value = write.value_node
    if value is None:
        return False
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.BinaryOperation):
            if isinstance(node.operator, cst.Multiply) and not (
                    isinstance(node.left, (cst.Integer, cst.Float)) or isinstance(node.right, (cst.Integer, cst.Float))):
                return True
            stack.extend((node.left, node.right))
        elif isinstance(node, cst.Call):
            name = node.func.attr.value if isinstance(node.func, cst.Attribute) else getattr(node.func, "value", "")
            if "dropout" in str(name) or "mask" in str(name):
                return True
            stack.extend(a.value for a in node.args)
    return False


@dataclass
class Harm:
    """Why a ``.data`` write is harmful here: the concise ``why`` and the full ``reason``."""

    kind: str  # forward-after-use | before-backward | graph-argument | discards-graph | noise-in-forward | mask-in-forward
    why: str
    reason: str
    source: Optional[str] = None  # discards-graph: the leaf whose graph is thrown away


def harm(model, write: DataWrite) -> Optional[Harm]:
    """The LL201 context of a ``.data`` write, or None."""
    if model.grad_at(write.ctx) is not Grad.ON:
        return None
    in_forward = model.leaf(write.target) is not None and model.in_forward(write.ctx)
    if in_forward and model.used_before(write):
        return Harm("forward-after-use", "in forward after its use: backward reads the new values (wrong grads)",
                    "inside forward after the tensor was already used: the graph saved the old values and "
                    "backward computes silently wrong gradients")
    if not in_forward and model.is_graph_write(write):
        return Harm("before-backward", "between its use in a graph and backward(): silently wrong gradients",
                    "after the tensor was used to build a graph and before `backward()`: the backward "
                    "pass reads the new values and computes a silently wrong gradient")
    via = model.graph_argument_call(write)
    if via is not None:
        return Harm("graph-argument", f"on a graph value from `{short(model.text(via), 24)}`, then backward(): "
                                      f"wrong gradients",
                    f"on a value computed from a graph that the call `{model.text(via)}` passes in, and a "
                    f"backward() follows that call: the backward pass does not see the write and computes a "
                    f"silently wrong gradient")
    source = discarded_graph_source(model, write)
    if source is not None and in_forward and source == target_text(model, write):
        source, computed_from_itself = None, True  # its own graph: stored into it on every call
    else:
        computed_from_itself = False
    if source is not None:
        return Harm("discards-graph", f"with a value whose graph it drops: `{short(source, 24)}` gets no gradient",
                    f"{'inside forward ' if in_forward else ''}and throws away the graph of the new value: "
                    f"`{source}` requires grad but gets no gradient through it", source)
    if in_forward and perturbs(write):
        return Harm("noise-in-forward", "in forward: random noise is added to the weights for good, on every call",
                    "inside forward: the random noise of every call is added permanently into the weights (it "
                    "accumulates, in evaluation too), and autograd never sees it")
    if in_forward and (computed_from_itself or masks(write)) \
            and not any(one_time_guard(node) for node in write.ctx.ifs):  # once, not on every call
        return Harm("mask-in-forward", "in forward: the mask is written into the weights for good, unseen by autograd",
                    "inside forward: the mask or dropout is written permanently into the weights on every "
                    "call, and autograd never sees it (the gradient ignores it)")
    return None


def harmful_reason(model, write: DataWrite) -> Optional[str]:
    """Why a ``.data`` write is harmful here, or None (the LL201 contexts)."""
    found = harm(model, write)
    return found.reason if found is not None else None

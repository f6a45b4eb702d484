"""What a tensor is, for the records: its kind, dtype, shape, leaf-ness, name, graph (imports torch).

Names are best-effort: a parameter or buffer of a module on the forward stack or bound in a
calling frame (``Linear.weight``), else a variable bound to the tensor in the nearest user frame.
"""

from __future__ import annotations

import sys

import torch
import torch.nn as nn

from leaflint.probe import state


def tensor_name(t) -> str | None:
    """Best-effort qualified name of a parameter/buffer: searched in the modules on the
    forward stack and in module objects bound in the calling frames."""
    if not isinstance(t, torch.Tensor):
        return None
    seen = set()
    candidates = []
    for m in reversed(state.STATE.fwd_stack()):
        candidates.append(m)
    frame = sys._getframe(1)
    depth = 0
    while frame is not None and depth < 30:
        for value in list(frame.f_locals.values()):
            if isinstance(value, nn.Module):
                candidates.append(value)
        depth += 1
        frame = frame.f_back
    main = sys.modules.get("__main__")
    if main is not None:
        for value in list(vars(main).values()):
            if isinstance(value, nn.Module):
                candidates.append(value)
    for m in candidates:
        if id(m) in seen:
            continue
        seen.add(id(m))
        try:
            for name, p in m.named_parameters(remove_duplicate=False):
                if p is t:
                    return f"{type(m).__name__}.{name}"
            for name, b in m.named_buffers(remove_duplicate=False):
                if b is t:
                    return f"{type(m).__name__}.{name}"
        except AttributeError:  # a module whose __init__ has not run nn.Module's yet
            continue
    # A plain variable bound to the tensor in the nearest user frame or its module.
    frame = sys._getframe(1)
    while frame is not None and state.STATE.project.realpath(frame.f_code.co_filename) is None:
        frame = frame.f_back
    if frame is not None:
        for scope in (frame.f_locals, frame.f_globals):
            for key, value in list(scope.items()):
                if value is t and not key.startswith("__"):
                    return key
    return None


def tensor_info(t) -> dict:
    if not isinstance(t, torch.Tensor):
        return {"tensor": type(t).__name__}
    try:
        kind = "Parameter" if isinstance(t, nn.Parameter) else type(t).__name__
        shape = "[" + ", ".join(str(s) for s in t.shape) + "]"
        dtype = str(t.dtype).replace("torch.", "")
        gf = t.grad_fn
        base = t._base
        info = {
            "tensor": f"{kind} {dtype}{shape}",
            "name": tensor_name(t if base is None else base),
            "leaf": bool(t.is_leaf),
            "rg": bool(t.requires_grad),
            "grad_fn": type(gf).__name__ if gf is not None else None,
        }
        if base is not None:
            info["view_of_leaf"] = bool(base.is_leaf and base.requires_grad)
        return info
    except Exception as exc:  # exotic subclasses
        return {"tensor": f"{type(t).__name__} ({exc.__class__.__name__})"}


def forward_stack() -> list[str] | None:
    stack = state.STATE.fwd_stack()
    if not stack:
        return None
    return [type(m).__name__ for m in stack]


def storage_ptr(t) -> int | None:
    try:
        return t.untyped_storage().data_ptr()
    except (RuntimeError, NotImplementedError):  # no storage: sparse, nested, functorch wrappers
        return None


def tensors_in(values):
    """The tensors among ``values``, and inside those that are lists or tuples (one level)."""
    for v in values:
        if isinstance(v, torch.Tensor):
            yield v
        elif isinstance(v, (list, tuple)):
            for x in v:
                if isinstance(x, torch.Tensor):
                    yield x


def backward_roots(args, kwargs) -> list:
    """The tensors a ``Tensor.backward`` / ``torch.autograd.backward`` / ``grad`` call starts from."""
    return list(tensors_in(list(args[:1]) + [kwargs.get("tensors"), kwargs.get("outputs")]))


def walk_graph(roots, limit: int = 20000):
    """(node, its sequence number or None) for each autograd node reachable from the ``grad_fn``
    of ``roots``, each once, at most ``limit`` of them. Call it with torch functions disabled."""
    todo = [r.grad_fn for r in roots if r.grad_fn is not None]
    seen = set()
    count = 0
    while todo and count < limit:
        node = todo.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        count += 1
        try:
            seq = node._sequence_nr()
        except AttributeError:  # a node type without a sequence number
            seq = None
        yield node, seq
        for nxt, _ in node.next_functions:
            if nxt is not None:
                todo.append(nxt)


def graph_leaves(value, limit: int = 200) -> list:
    """The leaves (tensors that require grad and accumulate it) whose graph feeds ``value``."""
    leaves = []
    for node, _ in walk_graph((value,), limit):
        var = getattr(node, "variable", None)  # an AccumulateGrad node: a leaf (no next functions)
        if var is not None:
            leaves.append(var)
    return leaves


def graph_inputs(value, limit: int = 200) -> dict:
    """grad_fn name of ``value`` and the names of the leaves that feed it."""
    root = value.grad_fn
    leaves = graph_leaves(value, limit)
    names = []
    for leaf in leaves[:8]:
        names.append(tensor_name(leaf) or tensor_info(leaf).get("tensor"))
    return {"grad_fn": type(root).__name__, "leaves": names}

"""LL201/LL202 at run time: writes through ``.data`` and the backward they corrupt (imports torch).

``t.data = v`` and in-place ops on the result of ``t.data`` are recorded with the conditions of
LL201/LL202 (grad mode, requires grad, forward, a discarded graph). A write on a tensor that
requires grad waits for the next ``backward()``: when that graph saved, before the write, a
tensor whose storage the write changed, the gradient is silently wrong (``data_harm``).
"""

from __future__ import annotations

import sys
import weakref

import torch

from leaflint.probe import describe, frames, schema, state

# pytest leaves this module's frames out of the tracebacks it shows (the user's error
# happens in the user's line; the monitor only passes it through).
__tracebackhide__ = True

def handle_data_set(func, args, kwargs):
    t = args[0] if args else None
    value = args[1] if len(args) > 1 else None
    info = None
    try:
        if isinstance(t, torch.Tensor):
            caller = sys._getframe(3)
            frame, real, via = frames.find_user_frame(caller)
            if frame is not None:
                old_ptr = describe.storage_ptr(t)
                fwd = describe.forward_stack()
                info = (frame, real, via, old_ptr, torch.is_grad_enabled(), fwd)
                # What the value carries must be read before the write.
                value_graph = None
                if isinstance(value, torch.Tensor) and value.grad_fn is not None \
                        and (fwd or not _reaches_only(value, t)):
                    # outside forward, a graph that reaches only ``t`` itself (an update step
                    # ``p.data = p - lr * p.grad``) links the tensor to its own old value: dropping
                    # it cuts no other tensor's gradient. In forward it is the computation the
                    # call meant to apply, made permanent (LL201).
                    value_graph = describe.graph_inputs(value)
                info = info + (value_graph,)
    except Exception as exc:
        state.failed(".data write check", exc)
        info = None
    result = func(*args, **kwargs)
    if info is not None:
        frame, real, via, old_ptr, grad_on, fwd, value_graph = info
        try:
            record_data_write(
                kind=schema.DATA_SET, op=".data =", target=t, written=t, value=value, frame=frame,
                real=real, via=via, loc=frames.loc(frame, real), grad_on=grad_on, fwd=fwd,
                old_ptr=old_ptr, value_graph=value_graph,
            )
        except Exception as exc:
            state.failed(".data write record", exc)
    return result


def _reaches_only(value, t) -> bool:
    """Whether every leaf of ``value``'s graph is ``t`` itself (and there is one)."""
    leaves = describe.graph_leaves(value, limit=20000)
    return bool(leaves) and all(leaf is t for leaf in leaves)


def _current_seq() -> int | None:
    """The autograd node sequence number a node created now would get (this thread)."""
    st = state.STATE
    try:
        if st.seq_probe is None:
            with torch._C.DisableTorchFunction():
                st.seq_probe = torch.zeros((), requires_grad=True)
        with torch._C.DisableTorchFunction(), torch.enable_grad():
            return (st.seq_probe * 1).grad_fn._sequence_nr()
    except (RuntimeError, AttributeError):  # inference mode: no node is recorded (grad_fn None)
        return None


_MASKING_OPS = {"mul_", "masked_fill_", "masked_scatter_", "bernoulli_", "index_fill_", "dropout_"}


def record_data_write(kind, op, target, written, value, frame, real, via, loc, grad_on, fwd,
                       old_ptr=None, value_graph=None, noisy=False):
    st = state.STATE
    rg = bool(target.requires_grad)
    in_fwd = bool(fwd)
    codes = []
    reasons = []
    if grad_on and rg:
        codes.append("LL202")
        # the static LL201 in forward: masks/dropout written into the weights; a clamp or a
        # projection is LL202 only (a stale saved tensor shows up as data_harm at backward)
        if in_fwd and op in _MASKING_OPS:
            reasons.append("forward")
        elif in_fwd and noisy:
            reasons.append("noise")  # random values drawn in forward, added into the weights
        if value_graph is not None:
            reasons.append("discards_graph")
        if reasons:
            codes.insert(0, "LL201")
    rec: schema.DataWrite = {"k": kind, "op": op, "code": "LL201" if "LL201" in codes else "LL202",
           "codes": codes, "grad": grad_on}
    rec.update(loc)
    rec.update(describe.tensor_info(target))
    if reasons:
        rec["why"] = reasons
    if value_graph is not None:
        rec["value_graph"] = value_graph
    schema.put_present(rec, via=via, fwd=fwd)
    key = (kind, frame.f_code, frame.f_lasti, tuple(codes))
    state.emit(rec, key)
    # Is the written storage held by a graph that a later backward uses?
    if rg or kind == schema.DATA_INPLACE:
        ptrs = {p for p in (old_ptr, describe.storage_ptr(written), describe.storage_ptr(target)) if p}
        harm_key = ("harm", frame.f_code, frame.f_lasti)
        if harm_key not in st.written and ptrs:
            with st.lock:
                st.pending_writes.append({
                    "ptrs": ptrs, "ref": weakref.ref(target), "seq": _current_seq(),
                    "loc": loc, "key": harm_key, "desc": describe.tensor_info(target), "op": op,
                    "via": via, "kind": kind,
                })
                del st.pending_writes[:-64]


_SAVED_ATTRS: dict = {}


def _saved_attrs(node) -> list[str]:
    cls = type(node)
    names = _SAVED_ATTRS.get(cls)
    if names is None:
        names = [a for a in dir(node) if a.startswith("_saved_")]
        _SAVED_ATTRS[cls] = names
    return names


def check_pending(args, kwargs):
    """Before a backward: does its graph hold, from before the write, a tensor whose
    storage a pending ``.data`` write changed? Then the gradient is silently wrong."""
    st = state.STATE
    with st.lock:
        pending = st.pending_writes
        st.pending_writes = []
    try:
        roots = describe.backward_roots(args, kwargs)
        if not any(r.grad_fn is not None for r in roots):
            return
        caller = sys._getframe(3)
        bframe, breal, _ = frames.find_user_frame(caller)
        bloc = frames.loc(bframe, breal) if bframe is not None else None
        remaining = list(pending)
        with torch._C.DisableTorchFunction():
            for node, seq in describe.walk_graph(roots):
                if not remaining:
                    break
                for attr in _saved_attrs(node):
                    try:
                        saved = getattr(node, attr)
                    except RuntimeError:  # freed by an earlier backward, or modified (LL4 raises)
                        continue
                    items = saved if isinstance(saved, (tuple, list)) else (saved,)
                    for item in items:
                        if not isinstance(item, torch.Tensor):
                            continue
                        ptr = describe.storage_ptr(item)
                        for w in list(remaining):
                            if ptr in w["ptrs"] and (w["seq"] is None or seq is None or seq < w["seq"]):
                                remaining.remove(w)
                                _emit_harm(w, node, attr, bloc)
    except Exception as exc:
        state.failed(".data harm check at backward", exc)


def _emit_harm(w, node, attr, bloc):
    rec: schema.DataHarm = {"k": schema.DATA_HARM, "op": w["op"], "code": "LL201", "codes": ["LL201"],
           "saved_by": type(node).__name__, "saved_attr": attr.replace("_saved_", "")}
    rec.update(w["loc"])
    rec.update(w["desc"])
    rec["why"] = ["live_graph"]
    if bloc is not None:
        rec["backward_at"] = bloc
    if w.get("via"):
        rec["via"] = w["via"]
    state.emit(rec, w["key"])

"""LL203 at run time: a parameter's ``.data`` read in forward, followed to the graph (imports torch).

A read of ``p.data`` (``p`` a leaf that requires grad) is an observation; inside forward with
grad on, and not for metadata, its value is followed through the ops it feeds (``follow_taint``)
until one records a graph node (``data_flow``). A ``backward()`` through such a node confirms
that the parameter got no gradient through this use (``data_cut``).
"""

from __future__ import annotations

import dis
import sys
import weakref

import torch

from leaflint.model.torchapi import METADATA_ATTRIBUTES
from leaflint.probe import describe, frames, schema, state

# pytest leaves this module's frames out of the tracebacks it shows (the user's error
# happens in the user's line; the monitor only passes it through).
__tracebackhide__ = True

_METADATA = METADATA_ATTRIBUTES  # the same reads the static LL203 leaves alone


_NEXT_ATTR: dict = {}


def _next_attr(code, lasti: int):
    """The attribute the instruction after ``lasti`` loads (``x.data.shape`` -> "shape")."""
    key = (code, lasti)
    try:
        return _NEXT_ATTR[key]
    except KeyError:
        pass
    result = None
    try:
        instrs = state.STATE.instructions.get(code)
        if instrs is None:
            instrs = [i for i in dis.get_instructions(code) if i.opname != "CACHE"]
            state.STATE.instructions[code] = instrs
        for idx, ins in enumerate(instrs):
            if ins.offset == lasti:
                if idx + 1 < len(instrs) and instrs[idx + 1].opname in ("LOAD_ATTR", "LOAD_METHOD"):
                    result = instrs[idx + 1].argval
                break
    except Exception as exc:  # the read is still recorded, without what follows it
        state.failed("reading the bytecode after a .data read", exc)
        result = None
    _NEXT_ATTR[key] = result
    return result


def handle_data_get(func, args, kwargs):
    result = func(*args, **kwargs)
    st = state.STATE
    try:
        t = args[0]
        if isinstance(result, torch.Tensor) and isinstance(t, torch.Tensor):
            st.data_alias[result] = t
            if t.requires_grad and t.is_leaf:
                caller = sys._getframe(3)
                frame, real, via = frames.find_user_frame(caller)
                if frame is not None and via is None:
                    stack = st.fwd_stack()
                    grad_on = torch.is_grad_enabled()
                    nxt = _next_attr(frame.f_code, frame.f_lasti) or ""
                    # metadata, a stop-gradient, or a write through .data (LL201/LL202, not a read)
                    metadata = nxt in _METADATA or nxt.endswith("_")
                    fwd_read = bool(stack) and grad_on and not metadata
                    key = ("data_get", frame.f_code, frame.f_lasti, fwd_read)
                    loc = None
                    if key not in st.written:
                        loc = frames.loc(frame, real)
                        rec: schema.DataGet = {"k": schema.DATA_GET, "op": ".data", "code": "LL203", "codes": [],
                               "grad": grad_on, "fwd_read": fwd_read}
                        if metadata:
                            rec["metadata"] = _next_attr(frame.f_code, frame.f_lasti)
                        rec.update(loc)
                        rec.update(describe.tensor_info(t))
                        fwd = describe.forward_stack()
                        if fwd:
                            rec["fwd"] = fwd
                        state.emit(rec, key)
                    cut_key = ("data_cut", frame.f_code, frame.f_lasti)
                    if fwd_read and cut_key not in st.written:
                        # Follow the value: harm needs it to reach a backpropagated graph.
                        st.taint[result] = {"key": cut_key, "loc": loc or frames.loc(frame, real),
                                            "param": weakref.ref(t), "desc": describe.tensor_info(t),
                                            "fwd": describe.forward_stack()}
                        st.any_taint = True
            elif t.grad_fn is not None and torch.is_grad_enabled() and st.fwd_stack():
                # a graph value's .data in forward: LL203 if it is what the module returns (post hook)
                frame, real, via = frames.find_user_frame(sys._getframe(3))
                if frame is not None and via is None:
                    st.cut_reads[result] = ((schema.DATA_CUT, frame.f_code, frame.f_lasti),
                                            frames.loc(frame, real), describe.tensor_info(t))
    except Exception as exc:
        state.failed(".data read", exc)
    return result


_CONSUMERS_MAX = 4096


def follow_taint(args, kwargs, result) -> None:
    """An op took a value derived from a ``.data`` read in forward: an output in a graph
    records its node as a consumer of the read (a constant there: the parameter gets no
    gradient through it); an output outside any graph carries the read on."""
    st = state.STATE
    try:
        taint = st.taint
        if not taint:
            st.any_taint = False
            return
        read = None
        for t in describe.tensors_in(args):
            read = taint.get(t)
            if read is not None:
                break
        if read is None and kwargs:
            for t in describe.tensors_in(kwargs.values()):
                read = taint.get(t)
                if read is not None:
                    break
        if read is None:
            return
        outs = result if isinstance(result, (list, tuple)) else (result,)
        for out in outs:
            if not isinstance(out, torch.Tensor):
                continue
            node = out.grad_fn
            if node is None:
                taint[out] = read
                continue
            st.consumers[(node._sequence_nr(), type(node).__name__)] = read
            if len(st.consumers) > _CONSUMERS_MAX:
                for key in list(st.consumers)[: _CONSUMERS_MAX // 4]:
                    del st.consumers[key]
            if "flowed" not in read:
                read["flowed"] = type(node).__name__
                rec: schema.DataFlow = {"k": schema.DATA_FLOW, "op": ".data", "code": "LL203", "codes": [],
                       "consumer": type(node).__name__}
                rec.update(read["loc"])
                rec.update(read["desc"])
                if read.get("fwd"):
                    rec["fwd"] = read["fwd"]
                state.emit(rec, ("data_flow",) + read["key"][1:])
    except Exception as exc:  # never break the program, but tell
        state.failed("following a .data read", exc)


def _graph_reads(args, kwargs) -> list:
    """(read, consumer node name) for each followed ``.data`` read whose consumer node is in
    the graph about to be backpropagated."""
    st = state.STATE
    found = {}
    consumers = st.consumers
    with torch._C.DisableTorchFunction():
        for node, seq in describe.walk_graph(describe.backward_roots(args, kwargs)):
            read = consumers.get((seq, type(node).__name__)) if seq is not None else None
            if read is not None and read["key"] not in found and read["key"] not in st.written:
                found[read["key"]] = (read, type(node).__name__)
    return list(found.values())


def backward_through_reads(func, args, kwargs):
    st = state.STATE
    try:
        reached = _graph_reads(args, kwargs)
        bframe, breal, _ = frames.find_user_frame(sys._getframe(3))
        bloc = frames.loc(bframe, breal) if bframe is not None else None
    except Exception as exc:
        state.failed(".data reads at backward", exc)
        reached, bloc = [], None
    result = func(*args, **kwargs)
    accumulates = getattr(func, "__name__", "") == "backward"
    for read, consumer in reached:
        try:
            rec: schema.DataCut = {"k": schema.DATA_CUT, "op": ".data", "code": "LL203", "codes": ["LL203"],
                   "consumer": consumer}
            rec.update(read["loc"])
            rec.update(read["desc"])
            if bloc is not None:
                rec["backward_at"] = bloc
            param = read["param"]()
            if accumulates and param is not None:
                rec["param_grad"] = "none" if param.grad is None else "other_uses"
            if read.get("fwd"):
                rec["fwd"] = read["fwd"]
            state.emit(rec, read["key"])
        except Exception as exc:
            state.failed(".data cut record", exc)
    # A confirmed read site is not followed any further.
    with st.lock:
        st.consumers = {k: r for k, r in st.consumers.items() if r["key"] not in st.written}
    return result

"""LL204 at run time: a module called with a Parameter, whose output it computes under no_grad (imports torch).

When a module is called with grad on and given a leaf tensor that requires grad (a Parameter
passed as an argument), the call is watched: the first op that reads that tensor with grad off,
inside the call, is remembered with its user line (the no_grad block the static LL204 reports
holds it). When the call returns an output that does not require grad, the Parameter got no
path into it: the event is written at that line.
"""

from __future__ import annotations

import sys

import torch

from leaflint.probe import describe, frames, schema, state
from leaflint.probe.describe import tensors_in

__tracebackhide__ = True


def _stack() -> list:
    tls = state.STATE.tls
    try:
        return tls.cut_watch
    except AttributeError:
        tls.cut_watch = []
        return tls.cut_watch


def active() -> bool:
    try:
        return bool(state.STATE.tls.cut_watch)
    except AttributeError:
        return False


def enter(module, args) -> None:
    """A module's forward starts: watch the leaves that require grad it was given."""
    if not torch.is_grad_enabled():
        return
    ids = {id(t): t for t in tensors_in(args) if t.is_leaf and t.requires_grad}
    if ids:
        _stack().append({"module": module, "ids": ids, "use": None})


def seen(args, kwargs) -> None:
    """An op ran: with grad off, does it read a watched tensor of the innermost watched call?"""
    if torch.is_grad_enabled():
        return
    top = _stack()[-1]
    if top["use"] is not None:
        return
    values = list(args) + (list(kwargs.values()) if kwargs else [])
    for t in tensors_in(values):
        if id(t) in top["ids"] and top["ids"][id(t)] is t:
            frame, real, via = frames.find_user_frame(sys._getframe(2))
            if frame is not None and via is None:
                top["use"] = (frames.loc(frame, real), describe.tensor_info(t))
            return


def leave(module, output) -> None:
    """The forward returned: an output without a graph, after a watched tensor was read with grad off: LL204."""
    stack = _stack()
    if not stack or stack[-1]["module"] is not module:
        return
    entry = stack.pop()
    if entry["use"] is None or not torch.is_grad_enabled():
        return
    outs = list(tensors_in([output] if isinstance(output, torch.Tensor) else output
                         if isinstance(output, (list, tuple)) else []))
    if not outs or any(o.requires_grad for o in outs):
        return
    loc, desc = entry["use"]
    rec: schema.GradCut = {"k": schema.GRAD_CUT, "op": "no_grad", "code": "LL204", "codes": ["LL204"],
                           "module_type": type(module).__name__}
    rec.update(loc)
    rec.update(desc)
    rec["text"] = (f"{type(module).__name__}.forward read {desc.get('tensor')} (a leaf that requires grad, passed in) "
                   f"with grad off and returned an output that does not require grad: no gradient reaches it "
                   f"through this call")
    state.emit(rec, ("grad_cut", loc["file"], loc["line"], loc.get("col")))

"""LL304 at run time: an optimizer stepping Parameters that were replaced outside forward (imports torch).

A Parameter (or a module owning Parameters) replaced on a module outside forward is remembered
with the chain of user frames that replaced it (the assigning line, the call that reached it,
and so on outwards: the static finding is on the statement of the function that holds the
optimizer, one of them). When an optimizer then steps such a Parameter and its gradient is None
(forward no longer uses it), the step is recorded once per frame of that chain; ``reconcile``
counts the chain as one observation (``chain_id``).
"""

from __future__ import annotations

import sys

import torch
from torch.utils.weak import WeakIdKeyDictionary

from leaflint.probe import frames, schema, state

__tracebackhide__ = True

_CHAIN_MAX = 8
_stale = WeakIdKeyDictionary()  # replaced Parameter -> {"name", "chain": [loc, ...], "id"}
_ids = [0]


def note_replaced(params, name: str, frame, real) -> None:
    """``params`` were replaced outside forward, at ``frame`` (the first user frame)."""
    trainable = [p for p in params if isinstance(p, torch.Tensor) and p.requires_grad]
    if not trainable:
        return
    chain = [frames.loc(frame, real)]
    outer = frame.f_back
    while outer is not None and len(chain) < _CHAIN_MAX:
        found, found_real, _ = frames.find_user_frame(outer)
        if found is None:
            break
        chain.append(frames.loc(found, found_real))
        outer = found.f_back
    _ids[0] += 1
    info = {"name": name, "chain": chain, "id": _ids[0]}
    for p in trainable:
        _stale[p] = info


def check_step(optimizer) -> None:
    """Before a step: a stepped Parameter that was replaced, with no gradient: LL304."""
    if not _stale:
        return
    for group in optimizer.param_groups:
        for p in group["params"]:
            info = _stale.get(p)
            if info is None or p.grad is not None:
                continue
            frame, real, _ = frames.find_user_frame(sys._getframe(2))
            for at, loc in enumerate(info["chain"]):
                rec: schema.OptStep = {"k": schema.OPT_STEP, "op": "optimizer.step", "code": "LL304",
                                       "codes": ["LL304"], "optimizer": type(optimizer).__name__,
                                       "param": info["name"], "chain_id": info["id"], "chain_at": at}
                rec.update(loc)
                if frame is not None:
                    rec["step_at"] = frames.loc(frame, real)
                rec["text"] = (f"{type(optimizer).__name__}.step() stepped a Parameter of `{info['name']}` that was "
                               f"replaced outside forward after the optimizer got it: its grad is None (forward uses "
                               f"the new one, which this optimizer does not hold)")
                state.emit(rec, ("stale_step", loc["file"], loc["line"], info["id"]))

"""LL101-LL106 at run time: in-place ops on leaves that require grad (imports torch).

The mode hands over every call it tagged as in-place (a ``*_`` method, ``__setitem__``, an
augmented assignment, ``out=``, ``inplace=True``, ``_foreach_*_``). A violation is torch's own
leaf error (with ``--keep-going`` the op is re-run under no_grad); an op the user called that
is no violation is recorded once per site as an observation (it refutes). An in-place op on the
result of ``t.data`` is a ``.data`` write (``data_writes``).
"""

from __future__ import annotations

import dis
import sys

import torch

from leaflint.probe import data_writes, describe, frames, noise, schema, state

# pytest leaves this module's frames out of the tracebacks it shows (the user's error
# happens in the user's line; the monitor only passes it through).
__tracebackhide__ = True

_BINARY_OP = dis.opmap.get("BINARY_OP", -1)


def _targets(func, args, kwargs, tag) -> list:
    if tag == "LL104":
        out = kwargs.get("out")
        return list(out) if isinstance(out, (tuple, list)) else [out]
    if tag == "LL106":
        first = args[0] if args else kwargs.get("self")
        return list(first) if isinstance(first, (list, tuple)) else []
    if args:
        return [args[0]]
    for key in ("input", "self", "tensor"):
        if key in kwargs:
            return [kwargs[key]]
    return []


def _leafy(t) -> bool:
    if not t.requires_grad:
        return False
    if t.is_leaf:
        return True
    base = t._base
    return base is not None and base.is_leaf and base.requires_grad


def _inplace_pre(func, args, kwargs, tag):
    st = state.STATE
    targets = [t for t in _targets(func, args, kwargs, tag) if isinstance(t, torch.Tensor)]
    if not targets:
        return None
    grad_on = torch.is_grad_enabled()
    alias = None
    if st.data_alias:
        for t in targets:
            base = st.data_alias.get(t)
            if base is not None:
                alias = (t, base)
                break
    if tag == "LL104":
        viol = grad_on and (
            any(_leafy(t) for t in targets)
            or any(isinstance(a, torch.Tensor) and a.requires_grad for a in args)
        )
    else:
        viol = grad_on and any(_leafy(t) for t in targets)
    caller = sys._getframe(4)
    if not viol and alias is None:
        # Observation for refutation: only ops the user's code called directly.
        code = caller.f_code
        if tag in ("LL101", "LL103", "LL106", "LL102"):
            real = st.project.realpath(code.co_filename)
            if real is None:
                return None
            key = ("obs", code, caller.f_lasti)
            if key in st.written:
                return None
            frame, via = caller, None
        else:
            frame, real, via = frames.find_user_frame(caller)
            if frame is None:
                return None
            key = ("obs", frame.f_code, frame.f_lasti)
            if key in st.written:
                return None
        t = targets[0]
        rec: schema.Inplace = {"k": schema.INPLACE, "op": _opname(func), "codes": [], "grad": grad_on}
        rec.update(frames.loc(frame, real))
        rec["code"] = _refine_code(tag, frame, via)
        rec.update(describe.tensor_info(t))
        if via:
            rec["via"] = via
        state.emit(rec, key)
        return None

    return targets, alias, viol, grad_on, caller


def handle_inplace(func, args, kwargs, tag):
    try:
        pre = _inplace_pre(func, args, kwargs, tag)
    except Exception as exc:  # an exotic tensor subclass: never break the program, but tell
        state.failed("in-place check", exc)
        pre = None
    if pre is None:
        return func(*args, **kwargs)
    targets, alias, viol, grad_on, caller = pre
    st = state.STATE
    noisy = alias is not None and noise.carries_noise(args, kwargs)
    frame, real, via = frames.find_user_frame(caller)
    err = None
    rerun = False
    try:
        return func(*args, **kwargs)
    except RuntimeError as exc:
        err = str(exc)
        if st.keep_going and viol and _is_leaf_error(err):
            rerun = True
            with torch.no_grad():
                return func(*args, **kwargs)
        raise
    finally:
        if frame is not None:
            try:
                _record_inplace(func, tag, targets, alias, viol, grad_on, frame, real, via, err, rerun, noisy)
            except Exception as exc:
                state.failed("in-place record", exc)


def _is_leaf_error(msg: str) -> bool:
    return "leaf Variable" in msg or "out=... arguments don't support automatic differentiation" in msg


def _opname(func) -> str:
    return getattr(func, "__name__", None) or repr(func)


def _refine_code(tag: str, frame, via) -> str:
    if tag == "LL101" and via is None:
        try:
            if frame.f_code.co_code[frame.f_lasti] == _BINARY_OP:
                return "LL102"
        except IndexError:
            pass
    return tag


def _record_inplace(func, tag, targets, alias, viol, grad_on, frame, real, via, err, rerun, noisy=False):
    loc = frames.loc(frame, real)
    fwd = describe.forward_stack()
    if alias is not None and not viol:
        t, base = alias
        data_writes.record_data_write(
            kind=schema.DATA_INPLACE, op=_opname(func), target=base, written=t, value=None,
            frame=frame, real=real, via=via, loc=loc, grad_on=grad_on, fwd=fwd, noisy=noisy,
        )
        return
    code = _refine_code(tag, frame, via)
    leaf_err = err is not None and _is_leaf_error(err)
    # the evidence is torch's own error (strict mode lets it happen; --keep-going catches it)
    cond = leaf_err
    t = next((x for x in targets if _leafy(x)), targets[0])
    rec: schema.Inplace = {"k": schema.INPLACE, "op": _opname(func), "code": code, "codes": [code] if cond else [],
           "grad": grad_on}
    rec.update(loc)
    rec.update(describe.tensor_info(t))
    if err is not None:
        rec["err"] = f"RuntimeError: {err}"
    schema.put_present(rec, rerun=rerun, via=via, fwd=fwd)
    key = ("ev", frame.f_code, frame.f_lasti, code, cond)
    state.emit(rec, key)

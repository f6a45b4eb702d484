"""The runtime monitor: a TorchFunctionMode plus module/optimizer hooks (imports torch).

Every record is one JSON object appended to the per-process events file as it happens.
Kinds and the rule codes they bear on:

``inplace``      an in-place op (method ``*_``, ``__setitem__``, ``out=``, ``inplace=True``,
                 ``_foreach_*_``): LL101-LL106. ``cond`` true when the target is a leaf that
                 requires grad (or a view of one) with grad mode on, or torch raised the leaf
                 error; ``err`` is torch's exact message.
``data_set``     ``t.data = v``: LL201/LL202.
``data_inplace`` an in-place op on the result of ``t.data``: LL201/LL202.
``data_harm``    a later ``backward()`` used a tensor saved before such a write: LL201.
``data_get``     ``p.data`` read (an observation; ``fwd_read`` when ``p`` requires grad, inside
                 forward, grad on: the result is then followed through the ops it feeds).
``data_flow``    such a value first fed an op whose output is in a graph (an observation).
``data_cut``     a ``backward()`` ran through that op: the parameter got no gradient through
                 this use: LL203.
``param_set``    a Parameter registered on a module: LL301 when it replaces a trainable one in
                 forward with a value computed by a graph (whose producers are cut off).
``module_set``   a module with parameters assigned to an attribute: LL302 in forward.
``module_built`` a module with parameters built in forward and called there unregistered (not
                 a submodule of the module running forward): LL302, at the construction.
``param_assign`` a plain tensor assigned over a Parameter slot (TypeError): LL303.
``opt_step``     an optimizer stepped a Parameter replaced in forward whose grad is None.

Each record carries ``codes``: the rule codes whose runtime condition held (empty for an
observation that refutes), the user location (``file`` realpath, ``line``/``col``/
``eline``/``ecol``, 1-based, columns in characters) of the first frame inside the project,
``via`` (the torch/library function that did it, when the user did not call it directly),
the forward stack, pid, rank and the pytest test id.

Non-violations are recorded once per code location ("observations"), violations once per
location and code set, so a training loop costs one record per site, not one per step.
"""

from __future__ import annotations

import dis
import linecache
import os
import sys
import threading
import weakref

import torch
import torch.nn as nn
from torch.overrides import TorchFunctionMode
from torch.utils.weak import WeakIdKeyDictionary

from leaflint.model.torchapi import METADATA_ATTRIBUTES, NOT_INPLACE_METHODS
from leaflint.probe.events import AppendFile, dumps
from leaflint.probe.project import Project

# pytest leaves this module's frames out of the tracebacks it shows (the user's error
# happens in the user's line; the handler only passes it through).
__tracebackhide__ = True

_OVERRIDES_FILE = os.path.realpath(torch.overrides.__file__)
_MODULE_FILE = os.path.realpath(nn.modules.module.__file__)
_PARAMETER_FILE = os.path.realpath(nn.parameter.__file__)
_THIS_FILE = os.path.realpath(__file__)
_BINARY_OP = dis.opmap.get("BINARY_OP", -1)

# In-place names that are not mutations autograd cares about: the static list
# (leaflint/model/torchapi.py, torch-free) plus names only the dispatcher shows. rename_ and
# refine_names_ are absent from torch 2.13's Tensor (named tensors); kept so an older torch's
# metadata-only renames are not reported (issue 15: torchapi should name them too).
_NOT_INPLACE = NOT_INPLACE_METHODS | {
    "retain_grad", "_fix_weakref", "record_stream", "_coalesced_", "rename_", "refine_names_",
}

_MISS = object()
_FWD_NAME = "forward"


def _rank() -> int | None:
    for var in ("RANK", "LOCAL_RANK"):
        value = os.environ.get(var)
        if value is not None and value.lstrip("-").isdigit():
            return int(value)
    return None


class _State:
    """Process-wide probe state shared by every thread's mode instance."""

    def __init__(self, events: AppendFile, project: Project, keep_going: bool):
        self.events = events
        self.project = project
        self.keep_going = keep_going
        self.tls = threading.local()
        self.written: set = set()  # dedupe keys of written records
        self.positions: dict = {}  # code -> list(co_positions())
        self.instructions: dict = {}  # code -> list of dis instructions
        self.data_alias = WeakIdKeyDictionary()  # result of t.data -> t
        self.param_origin = WeakIdKeyDictionary()  # new Parameter -> (grad_fn name, leaf names)
        self.replaced = WeakIdKeyDictionary()  # old Parameter -> location dict of the replacement
        self.built = WeakIdKeyDictionary()  # module given a trainable Parameter in forward -> where built
        self.pending_writes: list[dict] = []  # .data writes waiting for the next backward
        self.taint = WeakIdKeyDictionary()  # value derived from a .data read in forward -> read
        self.any_taint = False
        self.consumers: dict = {}  # (sequence_nr, node type) of graph nodes fed a tainted value -> read
        self.seq_probe = None
        self.proc_written = False
        self.lock = threading.RLock()

    # -- forward stack ------------------------------------------------------------
    def fwd_stack(self) -> list:
        try:
            return self.tls.stack
        except AttributeError:
            self.tls.stack = []
            return self.tls.stack


_STATE: _State | None = None


# ---------------------------------------------------------------------------------
# locations


def _span(frame) -> tuple[int, int, int, int]:
    """1-based (line, col, end_line, end_col) in characters of the frame's instruction."""
    code = frame.f_code
    positions = _STATE.positions.get(code)
    if positions is None:
        positions = list(code.co_positions())
        _STATE.positions[code] = positions
    idx = frame.f_lasti // 2
    line = frame.f_lineno or 0
    if 0 <= idx < len(positions):
        ln, eln, col, ecol = positions[idx]
    else:
        ln, eln, col, ecol = line, line, None, None
    ln = ln or line
    eln = eln or ln
    filename = code.co_filename
    return ln, _char_col(filename, ln, col, 1), eln, _char_col(filename, eln, ecol, None)


def _char_col(filename: str, line: int, byte_col: int | None, default: int | None) -> int | None:
    """co_positions columns are 0-based UTF-8 byte offsets; return 1-based characters."""
    if byte_col is None:
        return default
    text = linecache.getline(filename, line)
    if not text:
        return byte_col + 1
    raw = text.encode("utf-8")
    return len(raw[:byte_col].decode("utf-8", "replace")) + 1


def _frame_name(frame) -> str:
    mod = frame.f_globals.get("__name__", "?")
    qual = getattr(frame.f_code, "co_qualname", frame.f_code.co_name)
    return f"{mod}.{qual}"


def _find_user_frame(frame, skip_codes=()):
    """(project frame, realpath, via) walking outwards from ``frame``.

    Frames of torch's dispatch plumbing (overrides.py) and of ``skip_codes`` are not
    intermediaries; the first other non-project frame names ``via``.
    """
    project = _STATE.project
    via = None
    while frame is not None:
        code = frame.f_code
        real = project.realpath(code.co_filename)
        if real is not None:
            return frame, real, via
        fn = code.co_filename
        if via is None and code not in skip_codes and not _is_plumbing(fn, code):
            via = _frame_name(frame)
        frame = frame.f_back
    return None, None, via


def _is_plumbing(filename: str, code) -> bool:
    real = _STATE.project._cache.get("__plumb__" + filename)
    if real is None:
        r = os.path.realpath(filename)
        real = "y" if r in (_OVERRIDES_FILE, _THIS_FILE) else "n"
        _STATE.project._cache["__plumb__" + filename] = real
    return real == "y"


def _loc(frame, real: str) -> dict:
    ln, col, eln, ecol = _span(frame)
    return {"file": real, "line": ln, "col": col, "eline": eln, "ecol": ecol}


# ---------------------------------------------------------------------------------
# descriptions


def _tensor_name(t) -> str | None:
    """Best-effort qualified name of a parameter/buffer: searched in the modules on the
    forward stack and in module objects bound in the calling frames."""
    if not isinstance(t, torch.Tensor):
        return None
    seen = set()
    candidates = []
    for m in reversed(_STATE.fwd_stack()):
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
        except Exception:
            continue
    # A plain variable bound to the tensor in the nearest user frame or its module.
    frame = sys._getframe(1)
    while frame is not None and _STATE.project.realpath(frame.f_code.co_filename) is None:
        frame = frame.f_back
    if frame is not None:
        for scope in (frame.f_locals, frame.f_globals):
            for key, value in list(scope.items()):
                if value is t and not key.startswith("__"):
                    return key
    return None


def _describe(t) -> dict:
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
            "name": _tensor_name(t if base is None else base),
            "leaf": bool(t.is_leaf),
            "rg": bool(t.requires_grad),
            "grad_fn": type(gf).__name__ if gf is not None else None,
        }
        if base is not None:
            info["view_of_leaf"] = bool(base.is_leaf and base.requires_grad)
        return info
    except Exception as exc:  # exotic subclasses
        return {"tensor": f"{type(t).__name__} ({exc.__class__.__name__})"}


def _fwd_desc() -> list[str] | None:
    stack = _STATE.fwd_stack()
    if not stack:
        return None
    return [type(m).__name__ for m in stack]


def _emit(record: dict, key) -> bool:
    """Write ``record`` unless ``key`` was written already. Returns True if written."""
    st = _STATE
    if key is not None:
        if key in st.written:
            return False
        st.written.add(key)
    if not st.proc_written:
        st.proc_written = True
        st.events.write(dumps(_proc_record()))
    record["pid"] = os.getpid()
    rank = _rank()
    if rank is not None:
        record["rank"] = rank
    test = os.environ.get("PYTEST_CURRENT_TEST")
    if test:
        record["test"] = test.rsplit(" (", 1)[0]
    if threading.current_thread() is not threading.main_thread():
        record["thread"] = threading.current_thread().name
    st.events.write(dumps(record))
    return True


def _proc_record() -> dict:
    return {
        "k": "proc",
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "rank": _rank(),
        "argv": list(sys.argv[:6]),
        "torch": torch.__version__,
        "compile_disabled": os.environ.get("TORCH_COMPILE_DISABLE") == "1",
    }


# ---------------------------------------------------------------------------------
# the mode


def _classify(func):
    """None (pass through) or a handler tag, cached per function object."""
    name = getattr(func, "__name__", "")
    if name == "__get__" or name == "__set__":
        prop = getattr(getattr(func, "__self__", None), "__name__", "")
        if prop == "data":
            return "data_get" if name == "__get__" else "data_set"
        return None
    if name in ("backward", "grad") and getattr(func, "__module__", "") in (
        "torch._tensor", "torch.autograd", "torch.autograd.__init__",
    ):
        return "backward"
    if name == "__setitem__":
        return "LL103"
    if getattr(func, "__module__", None) == "torch.nn.init":
        return None  # nn.init.* run under no_grad inside
    if name.startswith("_foreach_") and name.endswith("_"):
        return "LL106"
    if name.endswith("_") and not name.endswith("__") and name not in _NOT_INPLACE:
        return "LL101"
    if name.startswith("__i") and name.endswith("__") and name[3:-2] in (
        "add", "sub", "mul", "truediv", "floordiv", "pow", "mod", "and", "or", "xor",
        "lshift", "rshift",
    ):
        return "LL102"
    return None


class ProbeMode(TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        result = _handle(func, args, kwargs)
        if _STATE.any_taint:
            _follow_taint(args, kwargs, result)
        return result


def _handle(func, args, kwargs):
    cache = _FUNC_CACHE
    try:
        tag = cache.get(func, _MISS)
    except TypeError:  # unhashable callable
        tag = _classify(func)
    else:
        if tag is _MISS:
            tag = _classify(func)
            try:
                cache[func] = tag
            except TypeError:
                pass
    if tag is None:
        if kwargs:
            if "out" in kwargs and kwargs["out"] is not None:
                tag = "LL104"
            elif kwargs.get("inplace") is True:
                tag = "LL105"
            else:
                return func(*args, **kwargs)
        else:
            return func(*args)
    if kwargs is None:
        kwargs = {}
    if tag == "data_get":
        return _data_get(func, args, kwargs)
    if tag == "data_set":
        return _data_set(func, args, kwargs)
    if tag == "backward":
        if _STATE.pending_writes:
            _check_pending(args, kwargs)
        if _STATE.consumers:
            return _backward_through_reads(func, args, kwargs)
        return func(*args, **kwargs)
    # LL4 hook point (leaflint/probe/saved.py): versions of saved storages around the write
    watched = _SAVED.before(args, kwargs) if _SAVED is not None else None
    if watched is None:
        return _inplace(func, args, kwargs, tag)
    try:
        return _inplace(func, args, kwargs, tag)
    finally:
        _SAVED.after(func, watched)


_FUNC_CACHE: dict = {}


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
    st = _STATE
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
            frame, real, via = _find_user_frame(caller)
            if frame is None:
                return None
            key = ("obs", frame.f_code, frame.f_lasti)
            if key in st.written:
                return None
        t = targets[0]
        rec = {"k": "inplace", "op": _opname(func), "codes": [], "grad": grad_on}
        rec.update(_loc(frame, real))
        rec["code"] = _refine_code(tag, frame, via)
        rec.update(_describe(t))
        if via:
            rec["via"] = via
        _emit(rec, key)
        return None

    return targets, alias, viol, grad_on, caller


def _inplace(func, args, kwargs, tag):
    try:
        pre = _inplace_pre(func, args, kwargs, tag)
    except Exception:  # an exotic tensor subclass: never break the program
        pre = None
    if pre is None:
        return func(*args, **kwargs)
    targets, alias, viol, grad_on, caller = pre
    st = _STATE
    frame, real, via = _find_user_frame(caller)
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
                _record_inplace(func, tag, targets, alias, viol, grad_on, frame, real, via, err, rerun)
            except Exception:
                pass


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


def _record_inplace(func, tag, targets, alias, viol, grad_on, frame, real, via, err, rerun):
    loc = _loc(frame, real)
    fwd = _fwd_desc()
    if alias is not None and not viol:
        t, base = alias
        _record_data_write(
            kind="data_inplace", op=_opname(func), target=base, written=t, value=None,
            frame=frame, real=real, via=via, loc=loc, grad_on=grad_on, fwd=fwd,
        )
        return
    code = _refine_code(tag, frame, via)
    leaf_err = err is not None and _is_leaf_error(err)
    # the evidence is torch's own error (strict mode lets it happen; --keep-going catches it)
    cond = leaf_err
    t = next((x for x in targets if _leafy(x)), targets[0])
    rec = {"k": "inplace", "op": _opname(func), "code": code, "codes": [code] if cond else [],
           "grad": grad_on}
    rec.update(loc)
    rec.update(_describe(t))
    if err is not None:
        rec["err"] = f"RuntimeError: {err}"
    if rerun:
        rec["rerun"] = True
    if via:
        rec["via"] = via
    if fwd:
        rec["fwd"] = fwd
    key = ("ev", frame.f_code, frame.f_lasti, code, cond)
    _emit(rec, key)


# ---------------------------------------------------------------------------------
# .data


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
        instrs = _STATE.instructions.get(code)
        if instrs is None:
            instrs = [i for i in dis.get_instructions(code) if i.opname != "CACHE"]
            _STATE.instructions[code] = instrs
        for idx, ins in enumerate(instrs):
            if ins.offset == lasti:
                if idx + 1 < len(instrs) and instrs[idx + 1].opname in ("LOAD_ATTR", "LOAD_METHOD"):
                    result = instrs[idx + 1].argval
                break
    except Exception:
        result = None
    _NEXT_ATTR[key] = result
    return result


def _data_get(func, args, kwargs):
    result = func(*args, **kwargs)
    st = _STATE
    try:
        t = args[0]
        if isinstance(result, torch.Tensor) and isinstance(t, torch.Tensor):
            st.data_alias[result] = t
            if t.requires_grad and t.is_leaf:
                caller = sys._getframe(3)
                frame, real, via = _find_user_frame(caller)
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
                        loc = _loc(frame, real)
                        rec = {"k": "data_get", "op": ".data", "code": "LL203", "codes": [],
                               "grad": grad_on, "fwd_read": fwd_read}
                        if metadata:
                            rec["metadata"] = _next_attr(frame.f_code, frame.f_lasti)
                        rec.update(loc)
                        rec.update(_describe(t))
                        fwd = _fwd_desc()
                        if fwd:
                            rec["fwd"] = fwd
                        _emit(rec, key)
                    cut_key = ("data_cut", frame.f_code, frame.f_lasti)
                    if fwd_read and cut_key not in st.written:
                        # Follow the value: harm needs it to reach a backpropagated graph.
                        st.taint[result] = {"key": cut_key, "loc": loc or _loc(frame, real),
                                            "param": weakref.ref(t), "desc": _describe(t),
                                            "fwd": _fwd_desc()}
                        st.any_taint = True
    except Exception:
        pass
    return result


def _data_set(func, args, kwargs):
    t = args[0] if args else None
    value = args[1] if len(args) > 1 else None
    info = None
    try:
        if isinstance(t, torch.Tensor):
            caller = sys._getframe(3)
            frame, real, via = _find_user_frame(caller)
            if frame is not None:
                old_ptr = _storage_ptr(t)
                info = (frame, real, via, old_ptr, torch.is_grad_enabled(), _fwd_desc())
                # What the value carries must be read before the write.
                value_graph = None
                if isinstance(value, torch.Tensor) and value.grad_fn is not None:
                    value_graph = _graph_inputs(value)
                info = info + (value_graph,)
    except Exception:
        info = None
    result = func(*args, **kwargs)
    if info is not None:
        frame, real, via, old_ptr, grad_on, fwd, value_graph = info
        try:
            _record_data_write(
                kind="data_set", op=".data =", target=t, written=t, value=value, frame=frame,
                real=real, via=via, loc=_loc(frame, real), grad_on=grad_on, fwd=fwd,
                old_ptr=old_ptr, value_graph=value_graph,
            )
        except Exception:
            pass
    return result


# ---------------------------------------------------------------------------------
# LL203: where a value read through `.data` in forward goes


_CONSUMERS_MAX = 4096


def _tensors_in(values):
    for v in values:
        if isinstance(v, torch.Tensor):
            yield v
        elif isinstance(v, (list, tuple)):
            for x in v:
                if isinstance(x, torch.Tensor):
                    yield x


def _follow_taint(args, kwargs, result) -> None:
    """An op took a value derived from a ``.data`` read in forward: an output in a graph
    records its node as a consumer of the read (a constant there: the parameter gets no
    gradient through it); an output outside any graph carries the read on."""
    st = _STATE
    try:
        taint = st.taint
        if not taint:
            st.any_taint = False
            return
        read = None
        for t in _tensors_in(args):
            read = taint.get(t)
            if read is not None:
                break
        if read is None and kwargs:
            for t in _tensors_in(kwargs.values()):
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
                rec = {"k": "data_flow", "op": ".data", "code": "LL203", "codes": [],
                       "consumer": type(node).__name__}
                rec.update(read["loc"])
                rec.update(read["desc"])
                if read.get("fwd"):
                    rec["fwd"] = read["fwd"]
                _emit(rec, ("data_flow",) + read["key"][1:])
    except Exception:  # never break the program
        pass


def _graph_reads(args, kwargs) -> list:
    """(read, consumer node name) for each followed ``.data`` read whose consumer node is in
    the graph about to be backpropagated."""
    st = _STATE
    roots = []
    for value in list(args[:1]) + [kwargs.get("tensors"), kwargs.get("outputs")]:
        roots.extend(_tensors_in((value,)))
    todo = [r.grad_fn for r in roots if r.grad_fn is not None]
    found = {}
    seen = set()
    count = 0
    consumers = st.consumers
    with torch._C.DisableTorchFunction():
        while todo and count < 20000:
            node = todo.pop()
            if node is None or id(node) in seen:
                continue
            seen.add(id(node))
            count += 1
            try:
                read = consumers.get((node._sequence_nr(), type(node).__name__))
            except Exception:
                read = None
            if read is not None and read["key"] not in found and read["key"] not in st.written:
                found[read["key"]] = (read, type(node).__name__)
            for nxt, _ in node.next_functions:
                if nxt is not None:
                    todo.append(nxt)
    return list(found.values())


def _backward_through_reads(func, args, kwargs):
    st = _STATE
    try:
        reached = _graph_reads(args, kwargs)
        bframe, breal, _ = _find_user_frame(sys._getframe(3))
        bloc = _loc(bframe, breal) if bframe is not None else None
    except Exception:
        reached, bloc = [], None
    result = func(*args, **kwargs)
    accumulates = getattr(func, "__name__", "") == "backward"
    for read, consumer in reached:
        try:
            rec = {"k": "data_cut", "op": ".data", "code": "LL203", "codes": ["LL203"],
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
            _emit(rec, read["key"])
        except Exception:
            pass
    # A confirmed read site is not followed any further.
    with st.lock:
        st.consumers = {k: r for k, r in st.consumers.items() if r["key"] not in st.written}
    return result


def _storage_ptr(t) -> int | None:
    try:
        return t.untyped_storage().data_ptr()
    except Exception:
        return None


def _graph_inputs(value, limit: int = 200) -> dict:
    """grad_fn name of ``value`` and the names of the leaves that feed it."""
    root = value.grad_fn
    leaves = []
    seen = set()
    todo = [root]
    n = 0
    while todo and n < limit:
        node = todo.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        n += 1
        var = getattr(node, "variable", None)
        if var is not None:
            leaves.append(var)
            continue
        for nxt, _ in getattr(node, "next_functions", ()):
            todo.append(nxt)
    names = []
    for leaf in leaves[:8]:
        names.append(_tensor_name(leaf) or _describe(leaf).get("tensor"))
    return {"grad_fn": type(root).__name__, "leaves": names}


def _current_seq() -> int | None:
    """The autograd node sequence number a node created now would get (this thread)."""
    st = _STATE
    try:
        if st.seq_probe is None:
            with torch._C.DisableTorchFunction():
                st.seq_probe = torch.zeros((), requires_grad=True)
        with torch._C.DisableTorchFunction(), torch.enable_grad():
            return (st.seq_probe * 1).grad_fn._sequence_nr()
    except Exception:
        return None


_MASKING_OPS = {"mul_", "masked_fill_", "masked_scatter_", "bernoulli_", "index_fill_", "dropout_"}


def _record_data_write(kind, op, target, written, value, frame, real, via, loc, grad_on, fwd,
                       old_ptr=None, value_graph=None):
    st = _STATE
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
        if value_graph is not None:
            reasons.append("discards_graph")
        if reasons:
            codes.insert(0, "LL201")
    rec = {"k": kind, "op": op, "code": "LL201" if "LL201" in codes else "LL202",
           "codes": codes, "grad": grad_on}
    rec.update(loc)
    rec.update(_describe(target))
    if reasons:
        rec["why"] = reasons
    if value_graph is not None:
        rec["value_graph"] = value_graph
    if via:
        rec["via"] = via
    if fwd:
        rec["fwd"] = fwd
    key = (kind, frame.f_code, frame.f_lasti, tuple(codes))
    _emit(rec, key)
    # Is the written storage held by a graph that a later backward uses?
    if rg or kind == "data_inplace":
        ptrs = {p for p in (old_ptr, _storage_ptr(written), _storage_ptr(target)) if p}
        harm_key = ("harm", frame.f_code, frame.f_lasti)
        if harm_key not in st.written and ptrs:
            with st.lock:
                st.pending_writes.append({
                    "ptrs": ptrs, "ref": weakref.ref(target), "seq": _current_seq(),
                    "loc": loc, "key": harm_key, "desc": _describe(target), "op": op,
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


def _check_pending(args, kwargs):
    """Before a backward: does its graph hold, from before the write, a tensor whose
    storage a pending ``.data`` write changed? Then the gradient is silently wrong."""
    st = _STATE
    with st.lock:
        pending = st.pending_writes
        st.pending_writes = []
    try:
        roots = []
        for value in list(args[:1]) + [kwargs.get("tensors"), kwargs.get("outputs")]:
            if isinstance(value, torch.Tensor):
                roots.append(value)
            elif isinstance(value, (list, tuple)):
                roots.extend(v for v in value if isinstance(v, torch.Tensor))
        nodes = [r.grad_fn for r in roots if r.grad_fn is not None]
        if not nodes:
            return
        caller = sys._getframe(3)
        bframe, breal, _ = _find_user_frame(caller)
        bloc = _loc(bframe, breal) if bframe is not None else None
        seen = set()
        todo = list(nodes)
        count = 0
        remaining = list(pending)
        with torch._C.DisableTorchFunction():
            while todo and remaining and count < 20000:
                node = todo.pop()
                if node is None or id(node) in seen:
                    continue
                seen.add(id(node))
                count += 1
                try:
                    seq = node._sequence_nr()
                except Exception:
                    seq = None
                for attr in _saved_attrs(node):
                    try:
                        saved = getattr(node, attr)
                    except Exception:
                        continue
                    items = saved if isinstance(saved, (tuple, list)) else (saved,)
                    for item in items:
                        if not isinstance(item, torch.Tensor):
                            continue
                        ptr = _storage_ptr(item)
                        for w in list(remaining):
                            if ptr in w["ptrs"] and (w["seq"] is None or seq is None or seq < w["seq"]):
                                remaining.remove(w)
                                _emit_harm(w, node, attr, bloc)
                for nxt, _ in node.next_functions:
                    if nxt is not None:
                        todo.append(nxt)
    except Exception:
        pass


def _emit_harm(w, node, attr, bloc):
    rec = {"k": "data_harm", "op": w["op"], "code": "LL201", "codes": ["LL201"],
           "saved_by": type(node).__name__, "saved_attr": attr.replace("_saved_", "")}
    rec.update(w["loc"])
    rec.update(w["desc"])
    rec["why"] = ["live_graph"]
    if bloc is not None:
        rec["backward_at"] = bloc
    if w.get("via"):
        rec["via"] = w["via"]
    _emit(rec, w["key"])


# ---------------------------------------------------------------------------------
# modules and optimizers (LL3)


_MODULE_SKIP_NAMES = {"register_parameter", "__setattr__", "register_module", "add_module",
                      "_setattr", "__new__"}


def _hook_user_frame():
    """The project frame that caused a registration hook, skipping nn.Module plumbing."""
    frame = sys._getframe(2)
    skip = set()
    f = frame
    while f is not None:
        fn = os.path.realpath(f.f_code.co_filename)
        if fn in (_MODULE_FILE, _THIS_FILE, _PARAMETER_FILE) and f.f_code.co_name in _MODULE_SKIP_NAMES | {
            "_hook_user_frame", "_param_hook", "_module_hook", "_setattr_wrapper", "_register_wrapper"
        }:
            skip.add(f.f_code)
            f = f.f_back
            continue
        break
    return _find_user_frame(f, skip_codes=skip)


def _param_hook(module, name, param):
    st = _STATE
    try:
        with torch._C.DisableTorchFunction():
            old = module._parameters.get(name)
            stack = st.fwd_stack()
            frame, real, via = _hook_user_frame()
            if frame is None:
                return None
            in_fwd = bool(stack)
            replaced = old is not None and param is not old
            # harmful when the optimizer's Parameter (the old one) trains, or when the new value
            # was computed by a graph whose producers are now cut off (the static LL301 exempts
            # a slot the class freezes right away, e.g. a rebuilt position table)
            origin_graph = st.param_origin.get(param) if isinstance(param, torch.Tensor) else None
            trainable = bool(getattr(old, "requires_grad", False) or origin_graph)
            cond = in_fwd and replaced and trainable
            # confirmed here when the new value's producers are cut off; a plain new leaf is
            # confirmed later, by the optimizer stepping the replaced Parameter (opt_step)
            harm = cond and bool(origin_graph)
            key = ("param_set", frame.f_code, frame.f_lasti, cond, harm)
            loc = _loc(frame, real)
            if in_fwd and old is None and getattr(param, "requires_grad", False):
                st.built[module] = _built_at(frame, real)
            if cond and isinstance(old, torch.Tensor):
                st.replaced[old] = {"loc": loc, "name": f"{type(module).__name__}.{name}",
                                    "module": type(module).__name__}
            if key in st.written:
                return None
            if not cond and via is not None:
                return None  # nn.Linear(...) registering its own weight in __init__
            rec = {"k": "param_set", "op": "Parameter assigned", "code": "LL301",
                   "codes": ["LL301"] if harm else [], "param": f"{type(module).__name__}.{name}",
                   "path": _module_path(module), "replaced": replaced, "trainable": trainable}
            rec.update(loc)
            fwd = _fwd_desc()
            if fwd:
                rec["fwd"] = fwd
            origin = st.param_origin.get(param) if isinstance(param, torch.Tensor) else None
            if origin:
                rec["value_graph"] = origin
            if via:
                rec["via"] = via
            _emit(rec, key)
    except Exception:
        pass
    return None


def _module_path(module) -> str | None:
    stack = _STATE.fwd_stack()
    if not stack:
        return None
    root = stack[0]
    try:
        for name, m in root.named_modules(remove_duplicate=False):
            if m is module:
                return f"{type(root).__name__}.{name}" if name else type(root).__name__
    except Exception:
        pass
    return None


def _module_hook(module, name, submodule):
    st = _STATE
    try:
        with torch._C.DisableTorchFunction():
            if submodule is None:
                return None
            stack = st.fwd_stack()
            in_fwd = bool(stack)
            if not in_fwd:
                return None  # ordinary construction; LL302 is about forward only
            frame, real, via = _hook_user_frame()
            if frame is None:
                return None
            params = [n for n, p in submodule.named_parameters() if p.requires_grad]
            # harm: a module the slot already held is replaced (rebuilt on every call); a first
            # creation (the slot empty or None: lazy, or a module under construction) is not
            cond = bool(params) and module._modules.get(name) is not None
            key = ("module_set", frame.f_code, frame.f_lasti, cond)
            if key in st.written:
                return None
            rec = {"k": "module_set", "op": "module assigned", "code": "LL302",
                   "codes": ["LL302"] if cond else [],
                   "param": f"{type(module).__name__}.{name}",
                   "module_type": type(submodule).__name__, "params": params[:6]}
            rec.update(_loc(frame, real))
            rec["fwd"] = _fwd_desc()
            if via:
                rec["via"] = via
            _emit(rec, key)
    except Exception:
        pass
    return None


def _built_at(frame, real) -> dict:
    """Where a module was built: the user frame outside every module ``__init__`` (``Block(d)``)."""
    while frame.f_code.co_name == "__init__" and isinstance(frame.f_locals.get("self"), nn.Module):
        outer, outer_real, _ = _find_user_frame(frame.f_back)
        if outer is None:
            break
        frame, real = outer, outer_real
    return _loc(frame, real)


def _pre_hook(module, args):
    st = _STATE
    stack = st.fwd_stack()
    loc = st.built.pop(module, None) if stack and st.built else None
    if loc is not None:  # LL302: built in forward, called there without being registered
        try:
            with torch._C.DisableTorchFunction():
                params = [n for n, p in module.named_parameters() if p.requires_grad]
                if params and all(m is not module for m in stack[0].modules()):
                    rec = {"k": "module_built", "op": "module called", "code": "LL302", "codes": ["LL302"],
                           "module_type": type(module).__name__, "fwd": _fwd_desc(), "params": params[:6], **loc}
                    _emit(rec, ("module_built", loc["file"], loc["line"], loc["col"]))
        except Exception:
            pass
    stack.append(module)


def _post_hook(module, args, output):
    stack = _STATE.fwd_stack()
    if stack:
        if stack[-1] is module:
            stack.pop()
        else:  # unbalanced (an exception skipped a post hook): unwind to this module
            for i in range(len(stack) - 1, -1, -1):
                if stack[i] is module:
                    del stack[i:]
                    break


def _opt_pre_hook(optimizer, args, kwargs):
    st = _STATE
    if not st.replaced:
        return None
    try:
        with torch._C.DisableTorchFunction():
            for group in optimizer.param_groups:
                for p in group["params"]:
                    info = st.replaced.get(p)
                    if info is None or p.grad is not None:
                        continue
                    rec = {"k": "opt_step", "op": "optimizer.step", "code": "LL301",
                           "codes": ["LL301"], "optimizer": type(optimizer).__name__,
                           "param": info["name"]}
                    rec.update(info["loc"])
                    frame, real, _ = _find_user_frame(sys._getframe(1))
                    if frame is not None:
                        rec["step_at"] = _loc(frame, real)
                    _emit(rec, ("opt_step", info["loc"]["file"], info["loc"]["line"], info["name"]))
    except Exception:
        pass
    return None


def _patch_parameter_new():
    orig_new = nn.Parameter.__new__

    def __new__(cls, data=None, requires_grad=True):
        param = orig_new(cls, data, requires_grad)
        try:
            if isinstance(data, torch.Tensor) and _STATE.fwd_stack():
                with torch._C.DisableTorchFunction():
                    if data.grad_fn is not None:
                        _STATE.param_origin[param] = _graph_inputs(data)
        except Exception:
            pass
        return param

    __new__.__wrapped__ = orig_new
    nn.Parameter.__new__ = staticmethod(__new__)


def _patch_setattr():
    orig = nn.Module.__setattr__

    def _setattr_wrapper(self, name, value):
        try:
            params = self.__dict__.get("_parameters")
            if params is not None and name in params:
                result = orig(self, name, value)
                try:
                    _record_param_assign(self, name, value, None)
                except Exception:
                    pass
                return result
            return orig(self, name, value)
        except TypeError as exc:
            if "as parameter" in str(exc):
                try:
                    _record_param_assign(self, name, value, str(exc))
                except Exception:
                    pass
            raise

    _setattr_wrapper.__wrapped__ = orig
    nn.Module.__setattr__ = _setattr_wrapper
    orig_register = nn.Module.register_parameter

    def _register_wrapper(self, name, param):
        try:
            return orig_register(self, name, param)
        except TypeError as exc:  # a plain tensor given to register_parameter (LL303)
            if "to parameter" in str(exc):
                try:
                    _record_param_assign(self, name, param, str(exc))
                except Exception:
                    pass
            raise

    _register_wrapper.__wrapped__ = orig_register
    nn.Module.register_parameter = _register_wrapper


def _record_param_assign(module, name, value, err):
    with torch._C.DisableTorchFunction():
        frame, real, via = _hook_user_frame()
        if frame is None:
            return
        key = ("param_assign", frame.f_code, frame.f_lasti, err is not None)
        if key in _STATE.written or (err is None and via is not None):
            return
        rec = {"k": "param_assign", "op": "tensor assigned to Parameter", "code": "LL303",
               "codes": ["LL303"] if err else [], "param": f"{type(module).__name__}.{name}"}
        if err:
            rec["err"] = f"TypeError: {err}"
        rec.update(_loc(frame, real))
        rec.update({"tensor": _describe(value).get("tensor")})
        fwd = _fwd_desc()
        if fwd:
            rec["fwd"] = fwd
        if via:
            rec["via"] = via
        _emit(rec, key)


# ---------------------------------------------------------------------------------
# install


def _enter_mode_in_this_thread():
    mode = ProbeMode()
    mode.__enter__()
    if _SAVED is not None:
        _SAVED.enter_thread()  # LL4 hook point: saved-tensor hooks are per thread
    return mode


def _patch_threads():
    Thread = threading.Thread
    target = "_bootstrap_inner" if hasattr(Thread, "_bootstrap_inner") else "run"
    orig = getattr(Thread, target)

    def wrapped(self, *a, **k):
        try:
            _enter_mode_in_this_thread()
        except Exception:
            pass
        return orig(self, *a, **k)

    setattr(Thread, target, wrapped)


def install(events: AppendFile, root: str, keep_going: bool = False) -> None:
    """Install the monitor in this process (idempotent)."""
    global _STATE
    if _STATE is not None:
        return
    _STATE = _State(events, Project(root), keep_going)
    _STATE.proc_written = True
    events.write(dumps(_proc_record()))  # this process is monitored, whether or not events follow
    if os.environ.get("TORCH_COMPILE_DISABLE") == "1" and "torch._dynamo.config" in sys.modules:
        try:
            sys.modules["torch._dynamo.config"].disable = True  # imported before the env was set
        except Exception:
            pass
    from torch.nn.modules import module as mm

    optim_mod = __import__("importlib").import_module("torch.optim.optimizer")
    mm.register_module_forward_pre_hook(_pre_hook)
    mm.register_module_forward_hook(_post_hook, always_call=True)
    mm.register_module_parameter_registration_hook(_param_hook)
    mm.register_module_module_registration_hook(_module_hook)
    optim_mod.register_optimizer_step_pre_hook(_opt_pre_hook)
    _patch_parameter_new()
    _patch_setattr()
    _patch_threads()
    os.register_at_fork(after_in_child=_after_fork)
    _install_saved()  # LL4 hook point
    _enter_mode_in_this_thread()


_SAVED = None  # LL4: leaflint.probe.saved.SavedTracker, set by install()


def _install_saved() -> None:
    """Saved-tensor hooks and the write log of LL4 (leaflint/probe/saved.py)."""
    global _SAVED
    if os.environ.get("LEAFLINT_PROBE_SAVED", "1") == "0":
        return
    from leaflint.probe import saved

    st = _STATE
    _SAVED = saved.SavedTracker(lambda record: _emit(record, None), st.project,
                                is_data_alias=lambda t: t in st.data_alias)
    saved.patch_torch_func(_SAVED)


def _after_fork():
    st = _STATE
    if st is None:
        return
    st.lock = threading.RLock()
    st.proc_written = False
    st.pending_writes = []
    st.consumers = {}

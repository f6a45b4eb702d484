"""LL301-LL303 at run time: Parameters and modules registered, assigned, stepped (imports torch).

Module hooks keep the forward stack (which module's forward is running) and see every
Parameter (``param_set``) and submodule (``module_set``) registration; ``nn.Parameter.__new__``
is patched to note what graph a Parameter made in forward was computed from, and
``nn.Module.__setattr__`` to see a plain tensor assigned over a Parameter slot (torch's
TypeError: ``param_assign``); an optimizer step pre-hook sees a replaced Parameter stepped
with no gradient (``opt_step``).
"""

from __future__ import annotations

import os
import sys

import torch
import torch.nn as nn

from leaflint.probe import cuts, describe, fallback, frames, schema, stale, state

# pytest leaves this module's frames out of the tracebacks it shows (the user's error
# happens in the user's line; the monitor only passes it through).
__tracebackhide__ = True

_MODULE_FILE = os.path.realpath(nn.modules.module.__file__)


_PARAMETER_FILE = os.path.realpath(nn.parameter.__file__)


_MODULE_SKIP_NAMES = {"register_parameter", "__setattr__", "register_module", "add_module",
                      "_setattr", "__new__"}


def _hook_user_frame():
    """The project frame that caused a registration hook, skipping nn.Module plumbing."""
    frame = sys._getframe(2)
    skip = set()
    f = frame
    while f is not None:
        fn = os.path.realpath(f.f_code.co_filename)
        if (fn in (_MODULE_FILE, _PARAMETER_FILE) or fn in frames.MONITOR_FILES) and f.f_code.co_name in _MODULE_SKIP_NAMES | {
            "_hook_user_frame", "_param_hook", "_module_hook", "_setattr_wrapper", "_register_wrapper", "_record_or_count"
        }:
            skip.add(f.f_code)
            f = f.f_back
            continue
        break
    return frames.find_user_frame(f, skip_codes=skip)


def _param_hook(module, name, param):
    st = state.STATE
    try:
        with torch._C.DisableTorchFunction():
            old = module._parameters.get(name)
            stack = st.fwd_stack()
            frame, real, via = _hook_user_frame()
            if frame is None:
                return None
            in_fwd = bool(stack)
            replaced = old is not None and param is not old
            if replaced and not in_fwd:  # outside forward: LL304 if an optimizer holds the old one
                stale.note_replaced([old], f"{type(module).__name__}.{name}", frame, real)
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
            loc = frames.loc(frame, real)
            if in_fwd and old is None and getattr(param, "requires_grad", False):
                st.built[module] = _built_at(frame, real)
            if cond and isinstance(old, torch.Tensor):
                st.replaced[old] = {"loc": loc, "name": f"{type(module).__name__}.{name}",
                                    "module": type(module).__name__}
            if key in st.written:
                return None
            if not cond and via is not None:
                return None  # nn.Linear(...) registering its own weight in __init__
            rec: schema.ParamSet = {"k": schema.PARAM_SET, "op": "Parameter assigned", "code": "LL301",
                   "codes": ["LL301"] if harm else [], "param": f"{type(module).__name__}.{name}",
                   "path": _module_path(module), "replaced": replaced, "trainable": trainable}
            rec.update(loc)
            schema.put_present(rec, fwd=describe.forward_stack(), value_graph=origin_graph, via=via)
            state.emit(rec, key)
    except Exception as exc:
        state.failed("Parameter registration hook", exc)
    return None


def _module_path(module) -> str | None:
    stack = state.STATE.fwd_stack()
    if not stack:
        return None
    root = stack[0]
    try:
        for name, m in root.named_modules(remove_duplicate=False):
            if m is module:
                return f"{type(root).__name__}.{name}" if name else type(root).__name__
    except AttributeError:  # a module whose __init__ has not run nn.Module's yet
        pass
    return None


def _module_hook(module, name, submodule):
    st = state.STATE
    try:
        with torch._C.DisableTorchFunction():
            if submodule is None:
                return None
            stack = st.fwd_stack()
            in_fwd = bool(stack)
            if not in_fwd:
                old = module._modules.get(name)
                if old is not None and old is not submodule:  # surgery: LL304 if an optimizer holds it
                    frame, real, _ = _hook_user_frame()
                    if frame is not None:
                        stale.note_replaced(list(old.parameters()), f"{type(module).__name__}.{name}", frame, real)
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
            rec: schema.ModuleSet = {"k": schema.MODULE_SET, "op": "module assigned", "code": "LL302",
                   "codes": ["LL302"] if cond else [],
                   "param": f"{type(module).__name__}.{name}",
                   "module_type": type(submodule).__name__, "params": params[:6]}
            rec.update(frames.loc(frame, real))
            rec["fwd"] = describe.forward_stack()
            schema.put_present(rec, via=via)
            state.emit(rec, key)
    except Exception as exc:
        state.failed("module registration hook", exc)
    return None


def _note_inplace_layer(module) -> None:
    """Where a torch layer was built with ``inplace=True`` (its ``__init__`` sets ``self.inplace``):
    the user's ``nn.Dropout(p, inplace=True)`` call, for writes that ``nn.Sequential`` runs."""
    if not type(module).__module__.startswith("torch.nn."):
        return
    st = state.STATE
    try:
        frame, real, _ = frames.find_user_frame(sys._getframe(2))
        if frame is not None:
            st.inplace_built[module] = frames.loc(frame, real)
    except Exception as exc:
        state.failed("in-place layer construction", exc)


def sequential_layer_site():
    """The construction site of the in-place layer ``nn.Sequential`` is running now, or None.

    Its write has no user line of its own (the container calls it): the line that built the
    layer, inside the container's construction, is the one to change."""
    st = state.STATE
    if st is None:
        return None
    stack = st.fwd_stack()
    if len(stack) < 2 or getattr(type(stack[-2]), "forward", None) is not nn.Sequential.forward:
        return None
    return st.inplace_built.get(stack[-1])


def _built_at(frame, real) -> dict:
    """Where a module was built: the user frame outside every module ``__init__`` (``Block(d)``)."""
    while frame.f_code.co_name == "__init__" and isinstance(frame.f_locals.get("self"), nn.Module):
        outer, outer_real, _ = frames.find_user_frame(frame.f_back)
        if outer is None:
            break
        frame, real = outer, outer_real
    return frames.loc(frame, real)


def _pre_hook(module, args):
    st = state.STATE
    stack = st.fwd_stack()
    loc = st.built.pop(module, None) if stack and st.built else None
    if loc is not None:  # LL302: built in forward, called there without being registered
        try:
            with torch._C.DisableTorchFunction():
                params = [n for n, p in module.named_parameters() if p.requires_grad]
                if params and all(m is not module for m in stack[0].modules()):
                    rec: schema.ModuleBuilt = {"k": schema.MODULE_BUILT, "op": "module called", "code": "LL302",
                                               "codes": ["LL302"], "module_type": type(module).__name__,
                                               "fwd": describe.forward_stack(), "params": params[:6], **loc}
                    state.emit(rec, (schema.MODULE_BUILT, loc["file"], loc["line"], loc["col"]))
        except Exception as exc:
            state.failed("module forward pre-hook", exc)
    stack.append(module)
    try:
        cuts.enter(module, args)
    except Exception as exc:
        state.failed("module forward pre-hook (LL204)", exc)


def _post_hook(module, args, output):
    try:
        cuts.leave(module, output)
    except Exception as exc:
        state.failed("module forward hook (LL204)", exc)
    read = state.STATE.cut_reads.get(output) if isinstance(output, torch.Tensor) else None
    if read is not None and read[0] not in state.STATE.written:
        rec: schema.DataCut = {"k": schema.DATA_CUT, "op": ".data", "code": "LL203", "codes": ["LL203"],
                               "output_of": type(module).__name__}
        state.emit(dict(rec, **read[1], **read[2]), read[0])
    stack = state.STATE.fwd_stack()
    if stack:
        if stack[-1] is module:
            stack.pop()
        else:  # unbalanced (an exception skipped a post hook): unwind to this module
            for i in range(len(stack) - 1, -1, -1):
                if stack[i] is module:
                    del stack[i:]
                    break


def _opt_pre_hook(optimizer, args, kwargs):
    st = state.STATE
    try:
        with torch._C.DisableTorchFunction():
            stale.check_step(optimizer)
    except Exception as exc:
        state.failed("optimizer step hook (LL304)", exc)
    if not st.replaced:
        return None
    try:
        with torch._C.DisableTorchFunction():
            for group in optimizer.param_groups:
                for p in group["params"]:
                    info = st.replaced.get(p)
                    if info is None or p.grad is not None:
                        continue
                    rec: schema.OptStep = {"k": schema.OPT_STEP, "op": "optimizer.step", "code": "LL301",
                           "codes": ["LL301"], "optimizer": type(optimizer).__name__,
                           "param": info["name"]}
                    rec.update(info["loc"])
                    frame, real, _ = frames.find_user_frame(sys._getframe(1))
                    if frame is not None:
                        rec["step_at"] = frames.loc(frame, real)
                    state.emit(rec, ("opt_step", info["loc"]["file"], info["loc"]["line"], info["name"]))
    except Exception as exc:
        state.failed("optimizer step hook", exc)
    return None


def _patch_parameter_new():
    orig_new = nn.Parameter.__new__

    def __new__(cls, data=None, requires_grad=True):
        param = orig_new(cls, data, requires_grad)
        try:
            if isinstance(data, torch.Tensor) and state.STATE.fwd_stack():
                with torch._C.DisableTorchFunction():
                    if data.grad_fn is not None:
                        state.STATE.param_origin[param] = describe.graph_inputs(data)
        except Exception as exc:
            state.failed("nn.Parameter()", exc)
        return param

    __new__.__wrapped__ = orig_new
    nn.Parameter.__new__ = staticmethod(__new__)


def _patch_setattr():
    orig = nn.Module.__setattr__

    def _setattr_wrapper(self, name, value):
        if name == "inplace" and value is True:
            _note_inplace_layer(self)
        try:
            params = self.__dict__.get("_parameters")
            if params is not None and name in params:
                result = orig(self, name, value)
                _record_or_count(self, name, value, None, "Parameter assignment")
                return result
            return orig(self, name, value)
        except TypeError as exc:
            if "as parameter" in str(exc):
                _record_or_count(self, name, value, str(exc), "Parameter assignment")
            raise

    _setattr_wrapper.__wrapped__ = orig
    nn.Module.__setattr__ = _setattr_wrapper
    orig_register = nn.Module.register_parameter

    def _register_wrapper(self, name, param):
        try:
            return orig_register(self, name, param)
        except TypeError as exc:  # a plain tensor given to register_parameter (LL303)
            if "to parameter" in str(exc):
                _record_or_count(self, name, param, str(exc), "register_parameter")
            raise

    _register_wrapper.__wrapped__ = orig_register
    nn.Module.register_parameter = _register_wrapper


def _record_or_count(module, name, value, err, where: str) -> None:
    """``_record_param_assign``; a failure there is counted as the monitor's (never raised into
    the user's assignment)."""
    try:
        _record_param_assign(module, name, value, err)
    except Exception as exc:
        state.failed(where, exc)


def _record_param_assign(module, name, value, err):
    with torch._C.DisableTorchFunction():
        frame, real, via = _hook_user_frame()
        if frame is None:
            return
        key = ("param_assign", frame.f_code, frame.f_lasti, err is not None)
        if key in state.STATE.written or (err is None and via is not None):
            return
        # torch's TypeError inside a ``try`` whose ``except`` falls back on it: the program's
        # deliberate fallback (as the static LL303 judges it), an observation, not a violation
        handled = fallback.handler_for(frame.f_code.co_filename, frame.f_lineno, "TypeError") if err else None
        rec: schema.ParamAssign = {"k": schema.PARAM_ASSIGN, "op": "tensor assigned to Parameter", "code": "LL303",
               "codes": ["LL303"] if err and not handled else [], "param": f"{type(module).__name__}.{name}"}
        if err:
            rec["err"] = f"TypeError: {err}"
        if handled:
            rec["handled"] = handled
        rec.update(frames.loc(frame, real))
        rec.update({"tensor": describe.tensor_info(value).get("tensor")})
        schema.put_present(rec, fwd=describe.forward_stack(), via=via)
        state.emit(rec, key)


class _ParameterTable(dict):
    """A module's ``_parameters``, reporting item stores that bypass nn.Module's type check
    (``m._parameters[name] = tensor``: LL303's store in forward). Reads stay dict's own (C);
    pickling and copying give a plain dict, so nothing saved depends on the probe."""

    __slots__ = ("owner",)

    def __setitem__(self, name, value):
        dict.__setitem__(self, name, value)
        if isinstance(value, torch.Tensor) and not isinstance(value, nn.Parameter):
            try:
                _record_table_store(getattr(self, "owner", "Module"), name, value)
            except Exception as exc:
                state.failed("_parameters store", exc)

    def __reduce__(self):
        return dict, (dict(self),)


def _record_table_store(owner: str, name, value) -> None:
    with torch._C.DisableTorchFunction():
        frame, real, via = _hook_user_frame()
        fwd = describe.forward_stack()
        if frame is None or via is not None:
            return  # torch's own swaps (functional_call, stateless) are not the user's store
        key = ("param_store", frame.f_code, frame.f_lasti, bool(fwd))
        if key in state.STATE.written:
            return
        tensor = describe.tensor_info(value).get("tensor")
        rec: schema.ParamAssign = {"k": schema.PARAM_ASSIGN, "op": "tensor stored into _parameters", "code": "LL303",
                                   "codes": ["LL303"] if fwd else [], "param": f"{owner}.{name}", "tensor": tensor}
        rec["text"] = (f"{tensor} (not an nn.Parameter{', grad_fn=' + type(value.grad_fn).__name__ if value.grad_fn else ''}) "
                       f"was stored into `{owner}._parameters[{name!r}]`"
                       + (" inside forward: parameters() now lists it instead of a trainable leaf" if fwd
                          else " outside forward"))
        rec.update(frames.loc(frame, real))
        if fwd:
            rec["fwd"] = fwd
        state.emit(rec, key)


def _patch_module_init():
    orig = nn.Module.__init__

    def __init__(self, *args, **kwargs):
        orig(self, *args, **kwargs)
        try:
            table = self.__dict__.get("_parameters")
            if type(table) is dict:
                watched = _ParameterTable(table)
                watched.owner = type(self).__name__
                object.__setattr__(self, "_parameters", watched)
        except Exception as exc:
            state.failed("watching _parameters", exc)

    __init__.__wrapped__ = orig
    nn.Module.__init__ = __init__


def install() -> None:
    """Register the module and optimizer hooks and patch Parameter/Module (once per process)."""
    from torch.nn.modules import module as mm

    optim_mod = __import__("importlib").import_module("torch.optim.optimizer")
    mm.register_module_forward_pre_hook(_pre_hook)
    mm.register_module_forward_hook(_post_hook, always_call=True)
    mm.register_module_parameter_registration_hook(_param_hook)
    mm.register_module_module_registration_hook(_module_hook)
    optim_mod.register_optimizer_step_pre_hook(_opt_pre_hook)
    _patch_parameter_new()
    _patch_setattr()
    _patch_module_init()

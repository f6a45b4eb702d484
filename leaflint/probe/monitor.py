"""The runtime monitor: a TorchFunctionMode plus module/optimizer hooks (imports torch).

``install`` sets up, once per process, the mode that sees every torch function call and hands
the ones that matter to their part of the monitor:

* ``inplace``       in-place ops on leaves (LL101-LL106);
* ``data_writes``   writes through ``.data`` and the backward they corrupt (LL201/LL202);
* ``data_reads``    ``.data`` reads in forward followed to the graph (LL203);
* ``registration``  Parameters and modules assigned, optimizers stepping (LL301-LL303);
* ``saved``         saved tensors modified before backward (LL401-LL403).

``state`` holds the process-wide state and writes the records (one JSON object each, appended
to the per-process events file as it happens; the kinds and their fields: ``schema``),
``frames`` finds the user's line, ``describe`` the tensor.

Every record carries ``codes``: the rule codes whose runtime condition held (empty for an
observation that refutes). Non-violations are recorded once per code location
("observations"), violations once per location and code set, so a training loop costs one
record per site, not one per step.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading

from torch.overrides import TorchFunctionMode

from leaflint.model.torchapi import NOT_INPLACE_METHODS
from leaflint.probe import cuts, data_reads, data_writes, inplace, noise, registration, state
from leaflint.probe.events import AppendFile, dumps
from leaflint.probe.project import Project

# pytest leaves this module's frames out of the tracebacks it shows (the user's error
# happens in the user's line; the mode only passes it through).
__tracebackhide__ = True



# In-place names that are not mutations autograd cares about: the static list
# (leaflint/model/torchapi.py, torch-free) plus names only the dispatcher shows. rename_ and
# refine_names_ are absent from torch 2.13's Tensor (named tensors); kept so an older torch's
# metadata-only renames are not reported (issue 15: torchapi should name them too).
_NOT_INPLACE = NOT_INPLACE_METHODS | {
    "retain_grad", "_fix_weakref", "record_stream", "_coalesced_", "rename_", "refine_names_",
}


_MISS = object()


def _classify(func):
    """None (pass through) or a handler tag, cached per function object."""
    name = getattr(func, "__name__", "")
    if name == "__get__" or name == "__set__":
        prop = getattr(getattr(func, "__self__", None), "__name__", "")
        if prop == "data":
            return "data_get" if name == "__get__" else "data_set"
        return None
    if name in noise.RANDOM_FUNCTIONS:
        return "random"
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
        if state.STATE.any_taint:
            data_reads.follow_taint(args, kwargs, result)
        if noise.active():
            noise.follow(args, kwargs, result)
        if cuts.active():
            cuts.seen(args, kwargs)
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
    if tag == "random":
        result = func(*args, **kwargs)
        noise.drew(result)
        return result
    if tag == "data_get":
        return data_reads.handle_data_get(func, args, kwargs)
    if tag == "data_set":
        return data_writes.handle_data_set(func, args, kwargs)
    if tag == "backward":
        if state.STATE.pending_writes:
            data_writes.check_pending(args, kwargs)
        if state.STATE.consumers:
            return data_reads.backward_through_reads(func, args, kwargs)
        return func(*args, **kwargs)
    # LL4 hook point (leaflint/probe/saved.py): versions of saved storages around the write
    watched = _SAVED.before(args, kwargs) if _SAVED is not None else None
    if watched is None:
        result = inplace.handle_inplace(func, args, kwargs, tag)
    else:
        try:
            result = inplace.handle_inplace(func, args, kwargs, tag)
        finally:
            _SAVED.after(func, watched)
    if tag == "LL101" and getattr(func, "__name__", "") in noise.RANDOM_INPLACE:
        noise.drew(result)
    return result


_FUNC_CACHE: dict = {}


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
        except Exception as exc:  # the thread runs unmonitored: counted, reported
            state.failed("thread start", exc)
        return orig(self, *a, **k)

    setattr(Thread, target, wrapped)


def install(events: AppendFile, root: str, keep_going: bool = False) -> None:
    """Install the monitor in this process (idempotent)."""
    if state.STATE is not None:
        return
    state.STATE = state.ProbeState(events, Project(root), keep_going)
    state.STATE.proc_written = True
    events.write(dumps(state.proc_record()))  # this process is monitored, whether or not events follow
    if os.environ.get("TORCH_COMPILE_DISABLE") == "1" and "torch._dynamo.config" in sys.modules:
        try:
            sys.modules["torch._dynamo.config"].disable = True  # imported before the env was set
        except Exception as exc:  # a torch whose config refuses it: counted, reported
            state.failed("disabling torch.compile", exc)
    registration.install()
    _patch_threads()
    os.register_at_fork(after_in_child=_after_fork)
    atexit.register(state.write_failure_total)
    _install_saved()  # LL4 hook point
    _enter_mode_in_this_thread()


_SAVED = None  # LL4: leaflint.probe.saved.SavedTracker, set by install()


def saved_tracker():
    """The LL4 tracker of this process (None before ``install``, or with LEAFLINT_PROBE_SAVED=0)."""
    return _SAVED


def _install_saved() -> None:
    """Saved-tensor hooks and the write log of LL4 (leaflint/probe/saved.py)."""
    global _SAVED
    if os.environ.get("LEAFLINT_PROBE_SAVED", "1") == "0":
        return
    from leaflint.probe import saved

    st = state.STATE
    _SAVED = saved.SavedTracker(lambda record: state.emit(record, None), st.project,
                                is_data_alias=lambda t: t in st.data_alias, failed=state.failed,
                                layer_site=registration.sequential_layer_site)
    saved.patch_torch_func(_SAVED)


def _after_fork():
    st = state.STATE
    if st is None:
        return
    st.lock = threading.RLock()
    st.proc_written = False
    st.pending_writes = []
    st.consumers = {}
    st.failures = st.failures_written = 0

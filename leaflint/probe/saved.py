"""The runtime side of LL4: saved tensors, the writes that change them, and the line that wrote.

Measured on torch 2.13 (DESIGN.md section 10):

- ``torch.autograd.graph.saved_tensors_hooks`` calls ``pack`` for every tensor a graph saves.
  ``pack`` records the tensor's ``_version``, the user's line and the saving node, and returns
  a ``_Packed`` holding ``t.detach()``: an alias that keeps the storage and the version counter
  but not the graph (returning a non-leaf ``t`` itself leaks every graph never backpropagated).
  A leaf is held as itself, as torch does, so ``w.data = v`` after the save behaves as without
  the probe.
- With the hooks installed torch skips its own version check, so ``unpack`` compares the
  versions itself and raises torch's error (behaviour unchanged), now naming the write.
- The monitor's mode calls ``track_call`` for the in-place ops it classifies (methods ``*_``,
  ``__setitem__``, ``__i*__``, ``out=``, ``inplace=True``, ``_foreach_*_``). Only tensors whose
  storage is *currently saved* are looked at, so an optimizer step after ``backward()`` (whose
  graph is freed) costs one dictionary test.
- A write through a ``.data`` alias changes the storage without moving the version: the write
  is logged (``is_data_alias``) and reported at unpack as a silent wrong gradient.
- ``torch.func.grad`` / ``vjp`` / ``jacrev`` / ``hessian`` refuse to run under saved-tensor
  hooks: the hooks are suspended around them, writes are kept in a short log meanwhile, and
  torch's own error is matched against that log (type, shape, version).
- Writes inside TorchScript are not seen.

Events (one JSON record each, through the monitor's ``emit``): ``saved_write`` with ``codes``
LL401 (the saving node's own output), LL402 (an input it saved), LL403 (the write came from an
optimizer step); the location is the write's; ``save_at``, ``backward_at``, ``saved_by``,
``name``, ``versions`` and a ready ``text`` complete it.
"""

from __future__ import annotations

import collections
import os
import re
import sys
import threading
from typing import Callable, Optional

import torch

from leaflint.probe import frames, schema

ERROR = "one of the variables needed for gradient computation has been modified by an inplace operation"
_MESSAGE = re.compile(r"\[torch\.(\w+) \[([\d, ]*)\]\].*?is at version (\d+); expected version (\d+)")
_THIS = os.path.realpath(__file__)


class _Packed:
    """What a graph holds instead of the tensor: an alias, its version at save time, where.

    When the graph releases it (backward done, or the graph dropped) ``__del__`` takes its
    storage off the tracked set, so writes after backward cost one dictionary test."""

    __slots__ = ("alias", "version", "key", "save_at", "output_of", "tracker")

    def __init__(self, alias, version, key, save_at, output_of, tracker):
        self.alias = alias
        self.version = version
        self.key = key
        self.save_at = save_at
        self.output_of = output_of
        self.tracker = tracker

    def __del__(self):
        if self.key is not None:
            self.tracker._forget(self.key)


class SavedTracker:
    """Process-wide: the live saves by storage, the hooks, the write log."""

    def __init__(self, emit: Callable[[dict], None], project, is_data_alias: Callable = lambda t: False,
                 failed: Callable[[str, BaseException], None] = lambda where, exc: None,
                 layer_site: Callable[[], Optional[dict]] = lambda: None) -> None:
        self.emit = emit                    # writes one event record
        self.project = project              # leaflint.probe.project.Project: which files are the user's
        self.is_data_alias = is_data_alias  # tensor -> whether it is the result of ``t.data``
        self.layer_site = layer_site        # () -> where the in-place layer nn.Sequential runs was built
        self.positions: dict = {}
        self.saved: dict = {}               # storage key -> how many saves of it are alive
        self.writes: dict = {}              # storage key -> the writes logged while it was saved
        self.code_real: dict = {}           # code object -> realpath when it is a project file
        self.fallback_log: collections.deque = collections.deque(maxlen=256)
        self.suspended = 0
        self.lock = threading.RLock()
        self.reported: set = set()
        self.failed = failed                # (where, exception) -> None: counts an internal error
        self._per_thread = threading.local()

    # ------------------------------------------------------------------ hooks
    def enter_thread(self) -> None:
        """Install the hooks in the calling thread (they are thread-local)."""
        if getattr(self._per_thread, "on", False):
            return
        hooks = torch.autograd.graph.saved_tensors_hooks(self.pack, self.unpack)
        hooks.__enter__()
        self._per_thread.on = True
        self._per_thread.hooks = hooks

    def pack(self, t):
        key = _key(t)
        grad_fn = t.grad_fn
        # A leaf is kept itself (as torch's SavedVariable does: a later ``w.data = ...`` is seen by
        # backward, so behaviour is unchanged); anything else as a detach()ed alias, which keeps
        # storage and version counter without pinning the graph.
        packed = _Packed(t if t.is_leaf else t.detach(), t._version, key, self._site(sys._getframe(1)),
                         id(grad_fn) if grad_fn is not None else None, self)
        if key is not None:
            saved = self.saved
            saved[key] = saved.get(key, 0) + 1
        return packed

    def _forget(self, key) -> None:
        saved = self.saved
        left = saved.get(key, 0) - 1
        if left > 0:
            saved[key] = left
        else:
            saved.pop(key, None)
            self.writes.pop(key, None)

    def unpack(self, packed):
        alias = packed.alias
        now = alias._version
        if (now != packed.version or packed.key in self.writes) and torch._C._current_autograd_node() is not None:
            # only inside backward: reading ``grad_fn._saved_*`` (as the LL2 check does) unpacks too
            self._violation(packed, now)
        return alias

    # ------------------------------------------------------------------ writes
    def before(self, args, kwargs) -> Optional[list]:
        """Before an in-place op: the tensor arguments whose storage is saved, with their versions.

        Costs one test when nothing is saved (after backward() freed the graph)."""
        if not self.saved and not self.suspended:
            return None
        try:
            return self._watched(args, kwargs) or None
        except (RuntimeError, TypeError, AttributeError) as exc:
            self.failed("saved tensors: before a write", exc)
            return None

    def after(self, func, watched: list) -> None:
        """After the op: log the writes that moved a saved storage's version (or went through .data)."""
        try:
            self._after(func, watched)
        except (RuntimeError, TypeError, AttributeError, KeyError) as exc:
            self.failed("saved tensors: after a write", exc)

    def _watched(self, args, kwargs) -> list:
        found = []
        for value in list(args) + list(kwargs.values()):
            items = value if isinstance(value, (list, tuple)) else (value,)
            for t in items:
                if isinstance(t, torch.Tensor):
                    key = _key(t)
                    if self.suspended or (key is not None and key in self.saved):
                        found.append((t, key, t._version))
        return found

    def _after(self, func, watched) -> None:
        frame = sys._getframe(2)
        for t, key, before in watched:
            after = t._version
            data_alias = self.is_data_alias(t)
            if after == before and not data_alias:
                continue
            loc, via = self.locate(_chain(frame))
            site = self.layer_site() if key in self.saved else None
            if site is not None:  # an in-place layer run by nn.Sequential: where it was built
                loc = site
            write = {"op": getattr(func, "__name__", str(func)), "before": before, "after": after,
                     "loc": loc, "via": via, "data_alias": data_alias}
            if self.suspended:
                self.fallback_log.append((str(t.dtype), tuple(t.shape), after, write))
            if key not in self.saved:
                continue
            write["name"] = self.name_of(key, frame)
            log = self.writes.setdefault(key, [])
            if len(log) < 32:
                log.append(write)

    # ------------------------------------------------------------------ findings
    def _violation(self, packed: _Packed, now: int) -> None:
        node = torch._C._current_autograd_node()
        node_name = type(node).__name__ if node is not None else "?"
        # the writes after this save (``relu_`` saves its own result during its write: not that one)
        writes = [w for w in self.writes.get(packed.key, ()) if w["before"] >= packed.version]
        moved = now != packed.version
        if moved:
            culprit = next((w for w in reversed(writes) if w["after"] != w["before"]), None)
        else:  # the version did not move: only a write through a ``.data`` alias changed the values
            culprit = next((w for w in reversed(writes) if w["data_alias"]), None)
            if culprit is None:
                return
        shape = "[" + ", ".join(str(s) for s in packed.alias.shape) + "]"
        tensor = f"{str(packed.alias.dtype).replace('torch.', '')}{shape}"
        message = (f"{ERROR}: [{tensor}], saved by {node_name}, is at version {now}; expected version "
                   f"{packed.version} instead")
        if culprit is not None and culprit.get("loc"):
            message += f" (leaflint: written by `{culprit['op']}` at {_where(culprit['loc'])})"
        if culprit is not None:
            self._report(packed, culprit, writes, node, node_name, tensor, now, silent=not moved)
        if moved:
            raise RuntimeError(message)

    def _report(self, packed, culprit, writes, node, node_name, tensor, now, silent: bool) -> None:
        loc = culprit.get("loc")
        if loc is None:
            return
        via = culprit.get("via") or ""
        if "torch/optim/" in via.replace(os.sep, "/") or "optimizer" in via.lower():
            code = "LL403"
        elif packed.output_of is not None and node is not None and packed.output_of == id(node):
            code = "LL401"
        else:
            code = "LL402"
        key = (loc["file"], loc["line"], loc.get("col"), code, silent)
        if key in self.reported:
            return
        self.reported.add(key)
        save_at, _ = self.locate(packed.save_at)
        backward_at, _ = self.locate(_chain(sys._getframe(3)))
        name = culprit.get("name")
        what = f"`{name}` ({tensor})" if name else tensor
        versions = [packed.version] + [w["after"] for w in writes if not w["data_alias"]]
        if silent:
            text = (f"`{culprit['op']}` wrote through a `.data` alias into {what}, which {node_name} had saved"
                    + (f" at {_where(save_at)}" if save_at else "")
                    + ": no error, the gradient is silently computed from the new values")
        else:
            text = (f"`{culprit['op']}` modified {what} in place (version {' -> '.join(str(v) for v in versions)}), "
                    f"but {node_name} had saved it" + (f" at {_where(save_at)}" if save_at else "")
                    + (f"; the backward at {_where(backward_at)} raised \"{ERROR}\"" if backward_at else ""))
        record: schema.SavedWrite = {"k": schema.SAVED_WRITE, "codes": [] if silent else [code], "code": code, "op": culprit["op"],
                  "saved_by": node_name, "tensor": tensor, "name": name, "text": text,
                  "versions": {"saved": packed.version, "now": now, "history": versions},
                  "silent": silent}
        if silent:
            record["codes"] = ["LL201"]
        record.update(loc)
        schema.put_present(record, save_at=save_at, backward_at=backward_at, via=via)
        self.emit(record)

    # ------------------------------------------------------------------ locations and names
    def _site(self, frame) -> tuple:
        """The first project frame outwards, as a one-element chain (cheap: cached per file)."""
        known = self.code_real
        depth = 0
        while frame is not None and depth < 60:
            code = frame.f_code
            try:
                real = known[code]
            except KeyError:
                real = known[code] = self.project.realpath(code.co_filename)
            if real is not None:
                return ((code, frame.f_lasti, frame.f_lineno),)
            frame = frame.f_back
            depth += 1
        return ()

    def locate(self, chain: list) -> tuple[Optional[dict], Optional[str]]:
        """(location of the first project frame, the library function in between) of a chain."""
        via = None
        for code, lasti, lineno in chain:
            real = self.project.realpath(code.co_filename)
            if real is not None:
                return self._loc(code, lasti, lineno, real), via
            if via is None and not _plumbing(code.co_filename):
                via = _short(code.co_filename) + ":" + getattr(code, "co_qualname", code.co_name)
        return None, via

    def _loc(self, code, lasti: int, lineno: int, real: str) -> dict:
        line, col, end_line, end_col = frames.code_span(code, lasti, lineno, self.positions)
        return {"file": real, "line": line, "col": col, "eline": end_line, "ecol": end_col}

    def name_of(self, key, frame) -> Optional[str]:
        """``D.2.weight``: the variable holding a module (or optimizer) whose parameter has this storage."""
        scopes = []
        depth = 0
        while frame is not None and depth < 30:
            if self.project.realpath(frame.f_code.co_filename) is not None:
                scopes.append(frame.f_locals)
            frame = frame.f_back
            depth += 1
        main = sys.modules.get("__main__")
        if main is not None:
            scopes.append(vars(main))
        seen = set()
        for scope in scopes:
            for var, value in list(scope.items()):
                if id(value) in seen or var.startswith("__"):
                    continue
                seen.add(id(value))
                if isinstance(value, torch.nn.Module):
                    for pname, param in value.named_parameters():
                        if _key(param) == key:
                            return f"{var}.{pname}"
                elif isinstance(value, torch.Tensor) and _key(value) == key:
                    return var
        return None

    # ------------------------------------------------------------------ torch.func
    def suspend(self):
        """A context manager that takes the hooks off this thread (torch.func refuses them)."""
        return _Suspended(self)

    def match_error(self, exc: BaseException) -> Optional[dict]:
        """Fallback: torch's own message (type, shape, version) against the suspended-time write log."""
        match = _MESSAGE.search(str(exc))
        if match is None:
            return None
        type_name, shape_text, version = match.group(1), match.group(2), int(match.group(3))
        shape = tuple(int(s) for s in shape_text.split(",") if s.strip())
        dtype = _DTYPES.get(type_name.replace("Tensor", ""), None)
        for dt, sh, after, write in reversed(self.fallback_log):
            if sh == shape and after == version and (dtype is None or dt == dtype) and write.get("loc"):
                loc = write["loc"]
                key = (loc["file"], loc["line"], loc.get("col"), "fallback")
                if key in self.reported:
                    return None
                self.reported.add(key)
                record: schema.SavedWrite = {"k": schema.SAVED_WRITE, "codes": ["LL402"], "code": "LL402", "op": write["op"],
                          "tensor": f"{type_name} [{shape_text}]", "fallback": True,
                          "text": (f"`{write['op']}` modified a {type_name} [{shape_text}] to version {version}; "
                                   f"torch then raised \"{ERROR}\" (matched by shape and version: saved-tensor hooks "
                                   f"were off inside torch.func)"),
                          "versions": {"now": version}}
                record.update(loc)
                self.emit(record)
                return record
        return None


class _Suspended:
    def __init__(self, tracker: SavedTracker) -> None:
        self.tracker = tracker
        self.hooks = None

    def __enter__(self):
        hooks = getattr(self.tracker._per_thread, "hooks", None)
        if hooks is not None and getattr(self.tracker._per_thread, "on", False):
            hooks.__exit__(None, None, None)
            self.tracker._per_thread.on = False
            self.hooks = hooks
        self.tracker.suspended += 1
        return self

    def __exit__(self, exc_type, exc, tb):
        self.tracker.suspended -= 1
        if self.hooks is not None:
            self.hooks.__enter__()
            self.tracker._per_thread.on = True
        if exc is not None and ERROR in str(exc):
            self.tracker.match_error(exc)
        return False


def _chain(frame, limit: int = 40) -> list:
    """(code, lasti, lineno) of the frames outwards: no frame object is kept (no locals pinned)."""
    chain = []
    while frame is not None and len(chain) < limit:
        chain.append((frame.f_code, frame.f_lasti, frame.f_lineno))
        frame = frame.f_back
    return chain


def _plumbing(filename: str) -> bool:
    real = os.path.realpath(filename)
    return real == _THIS or real.endswith(os.path.join("torch", "overrides.py")) or \
        real in frames.MONITOR_FILES or filename.startswith("<")


def _short(filename: str) -> str:
    marker = os.sep + "site-packages" + os.sep
    return filename.split(marker, 1)[1] if marker in filename else os.path.basename(filename)


_DTYPES = {"Float": "torch.float32", "Double": "torch.float64", "Half": "torch.float16",
           "BFloat16": "torch.bfloat16", "Long": "torch.int64", "Int": "torch.int32"}


def _key(t) -> Optional[tuple]:
    try:
        storage = t.untyped_storage()
    except (RuntimeError, NotImplementedError):
        return None
    ptr = storage.data_ptr()
    if not ptr:
        return None
    return (ptr, t.device.type)


def _where(loc: dict) -> str:
    try:
        rel = os.path.relpath(loc["file"])
    except ValueError:
        rel = loc["file"]
    return f"{loc['file'] if rel.startswith('..') else rel}:{loc['line']}"


_TRANSFORMS = ("grad", "grad_and_value", "jacrev", "hessian")


def patch_torch_func(tracker: SavedTracker) -> None:
    """Suspend the hooks around torch.func transforms (they refuse saved-tensor hooks)."""
    import torch.func as tf

    def wrap_result(fn):
        def run(*args, **kwargs):
            with tracker.suspend():
                return fn(*args, **kwargs)
        run.__wrapped__ = fn
        return run

    for name in _TRANSFORMS:
        original = getattr(tf, name, None)
        if original is None or getattr(original, "_leaflint", False):
            continue

        def make(original=original):
            def transform(*args, **kwargs):
                return wrap_result(original(*args, **kwargs))
            transform._leaflint = True
            transform.__wrapped__ = original
            return transform

        setattr(tf, name, make())
    original_vjp = getattr(tf, "vjp", None)
    if original_vjp is not None and not getattr(original_vjp, "_leaflint", False):
        def vjp(func, *primals, **kwargs):
            with tracker.suspend():
                out, fn, *rest = original_vjp(func, *primals, **kwargs)
            return (out, wrap_result(fn), *rest)
        vjp._leaflint = True
        vjp.__wrapped__ = original_vjp
        tf.vjp = vjp

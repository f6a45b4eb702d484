"""Activate the probe in a process: line coverage now, the torch monitor as soon as torch
is imported (no torch import here: a subprocess that never uses torch never pays for it).

Activated by ``_boot/sitecustomize.py`` in every Python process started with the probe's
environment (the child, spawned workers, torchrun ranks), by ``child.py``, and by the
pytest plugin. Idempotent.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import json
import os
import sys

from leaflint.probe import schema
from leaflint.probe.events import ENV_DIR, ENV_KEEP_GOING, ENV_ROOT, ENV_TARGETS, AppendFile

_ACTIVE = False
_CONFIG: dict = {}
_EVENTS: AppendFile | None = None
_LINES: AppendFile | None = None


def activate_from_env() -> bool:
    directory = os.environ.get(ENV_DIR)
    if not directory or not os.path.isdir(directory):
        return False
    activate(
        directory,
        os.environ.get(ENV_ROOT) or os.getcwd(),
        keep_going=os.environ.get(ENV_KEEP_GOING) == "1",
        targets_file=os.environ.get(ENV_TARGETS) or None,
    )
    return True


def _load_targets(path: str | None) -> dict[str, set[int]] | None:
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        return {k: set(v) for k, v in data.items()}
    except (OSError, ValueError):
        return None


def activate(directory: str, root: str, keep_going: bool = False, targets_file: str | None = None,
             coverage: bool = True) -> None:
    global _ACTIVE, _EVENTS, _LINES
    if _ACTIVE:
        return
    _ACTIVE = True
    _CONFIG.update(directory=directory, root=root, keep_going=keep_going)
    _EVENTS = AppendFile(directory, "events-", ".jsonl")
    _LINES = AppendFile(directory, "lines-", ".txt")
    os.register_at_fork(after_in_child=_after_fork)
    if coverage:
        from leaflint.probe.coverage import LineCoverage
        from leaflint.probe.project import Project

        try:
            LineCoverage(Project(root), _LINES, _load_targets(targets_file)).start()
        except Exception as exc:  # never break the program for coverage
            _EVENTS.write(json.dumps({"k": schema.PROBE_ERROR, "what": f"coverage: {exc!r}"}) + "\n")
    hook = _PostImportHook()
    sys.meta_path.insert(0, hook)
    if "torch" in sys.modules and hasattr(sys.modules["torch"], "overrides"):
        _install_monitor()
    else:
        hook.watch("torch", lambda module: _install_monitor(), on_start=_torch_import_started)
    if coverage and sys.version_info < (3, 12):
        if "_pytest.assertion.rewrite" in sys.modules:
            _patch_pytest(sys.modules["_pytest.assertion.rewrite"])
        else:
            hook.watch("_pytest.assertion.rewrite", _patch_pytest)


def _patch_pytest(module) -> None:
    from leaflint.probe.coverage import patch_pytest_rewrite

    try:
        patch_pytest_rewrite(module)
    except Exception as exc:
        _EVENTS.write(json.dumps({"k": schema.PROBE_ERROR, "what": f"pytest rewrite patch: {exc!r}"}) + "\n")


def _after_fork() -> None:
    for f in (_EVENTS, _LINES):
        if f is not None:
            f.after_fork()


def project_root() -> str | None:
    """The project root this process was activated with (None when not activated)."""
    return _CONFIG.get("root")


def _torch_import_started() -> None:
    # A run killed while torch is still importing is told apart from one that never uses it.
    _EVENTS.write(json.dumps({"k": schema.TORCH_IMPORT, "pid": os.getpid()}) + "\n")


def _install_monitor() -> None:
    try:
        from leaflint.probe import monitor

        monitor.install(_EVENTS, _CONFIG["root"], _CONFIG["keep_going"])
    except Exception as exc:
        import traceback

        _EVENTS.write(json.dumps({"k": schema.PROBE_ERROR, "pid": os.getpid(),
                                  "what": f"monitor install failed: {exc!r}",
                                  "tb": traceback.format_exc()[-2000:]}) + "\n")


class _PostImportHook(importlib.abc.MetaPathFinder):
    """Runs a callback right after a watched module finished importing."""

    def __init__(self):
        self._watched: dict = {}
        self._busy: set = set()

    def watch(self, name: str, callback, on_start=None) -> None:
        self._watched[name] = (callback, on_start)

    def find_spec(self, name, path=None, target=None):
        watched = self._watched.get(name)
        if watched is None or name in self._busy:
            return None
        callback, on_start = watched
        self._busy.add(name)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            self._busy.discard(name)
        if spec is None or spec.loader is None:
            return spec
        del self._watched[name]
        if on_start is not None:
            on_start()
        spec.loader = _PostImportLoader(spec.loader, callback)
        return spec


class _PostImportLoader(importlib.abc.Loader):
    def __init__(self, loader, callback):
        self._loader = loader
        self._callback = callback

    def __getattr__(self, name):
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        try:
            self._loader.exec_module(module)
        finally:
            # Leave no trace of the wrapper on the module.
            try:
                module.__loader__ = self._loader
                if module.__spec__ is not None:
                    module.__spec__.loader = self._loader
            except (AttributeError, TypeError):  # a module object that refuses the attribute
                pass
        self._callback(module)

"""The probed program's process: activate the probe, then run SCRIPT or -m MODULE as
``python SCRIPT`` / ``python -m MODULE`` would (``__main__``, ``sys.argv``, ``sys.path[0]``,
exit status 2 and one line on stderr when the script or module cannot be found, the
traceback of an uncaught exception without the probe's own frames).

Invoked by the runner as ``python -c <boot> [--module] TARGET [ARGS...]``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import runpy
import shutil
import sys

from leaflint.probe import schema, tb

_NOT_STARTED = 2  # what `python missing.py` and `python -m missing` exit with


def _resolve_script(target: str) -> str | None:
    if os.path.exists(target):
        return os.path.abspath(target)
    found = shutil.which(target)  # console scripts such as torchrun
    if found:
        return found
    return None


def _module_problem(name: str) -> str | None:
    """Why ``python -m name`` would stop before running any of the module's code, or None.
    (Importing the parent packages runs their ``__init__``, as ``python -m`` does too.)"""
    try:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations is not None:
            main = importlib.util.find_spec(name + ".__main__")
            if main is None:
                return f"No module named {name}.__main__; '{name}' is a package and cannot be directly executed"
            spec = main
    except ImportError as exc:
        return str(exc)
    except ValueError as exc:  # an empty or relative name
        return str(exc)
    if spec is None:
        return f"No module named {name}"
    if spec.loader is None:
        return f"No code object available for {name}"
    return None


def _run_script(path: str) -> None:
    # coverage patches runpy's compile step to add the target-line hits (Python < 3.12)
    runpy.run_path(path, run_name="__main__")


def _exit_record(**data) -> None:
    from leaflint.probe import bootstrap

    if bootstrap._EVENTS is not None:
        data.update(k=schema.EXIT, pid=os.getpid())
        bootstrap._EVENTS.write(json.dumps(data, default=str) + "\n")


def _not_started(message: str) -> None:
    from leaflint.probe import bootstrap

    if bootstrap._EVENTS is not None:
        _exit_record(status=_NOT_STARTED, how="not_started", error=message)  # the parent says it
    else:
        sys.stderr.write(f"leaflint probe: {message}\n")
    sys.exit(_NOT_STARTED)


def _print_without_probe_frames() -> None:
    """Python prints the uncaught exception (and exits as it would) through
    ``sys.excepthook``: the hook in place now (the program's own, or the default) gets the
    traceback without the probe's frames, as ``python SCRIPT`` would show it."""
    shown = sys.excepthook

    def excepthook(exc_type, exc, trace):
        if exc is not None:
            tb.hide_probe_frames(exc)
            trace = exc.__traceback__
        shown(exc_type, exc, trace)

    sys.excepthook = excepthook


def main(argv: list[str] | None = None) -> None:
    from leaflint.probe import bootstrap

    argv = list(sys.argv[1:] if argv is None else argv)
    is_module = False
    if argv and argv[0] == "--module":
        is_module = True
        argv = argv[1:]
    if not argv:
        sys.stderr.write("leaflint probe child: nothing to run\n")
        sys.exit(2)
    bootstrap.activate_from_env()
    target, args = argv[0], argv[1:]
    if is_module:
        sys.argv = [target] + args
        sys.path[0] = os.getcwd()
        problem = _module_problem(target)
        if problem:
            _not_started(problem)
    else:
        path = _resolve_script(target)
        if path is None or os.path.isdir(path) and not os.path.exists(os.path.join(path, "__main__.py")):
            why = "No such file or directory" if path is None else "no __main__.py in the directory"
            _not_started(f"can't open file {os.path.abspath(target)!r}: {why}")
        sys.argv = [path] + args
        sys.path[0] = os.path.dirname(path)
    try:
        if is_module:
            runpy.run_module(target, run_name="__main__", alter_sys=True)
        else:
            _run_script(path)
    except SystemExit as exc:
        code = exc.code
        _exit_record(status=code if isinstance(code, int) or code is None else 1, how="SystemExit")
        raise
    except KeyboardInterrupt:
        _exit_record(status=130, how="KeyboardInterrupt")
        _print_without_probe_frames()
        raise
    except BaseException as exc:
        _exit_record(status=1, how="exception", exception=f"{type(exc).__name__}: {exc}"[:2000],
                     where=tb.user_location(exc.__traceback__, bootstrap.project_root()))
        _print_without_probe_frames()
        raise
    _exit_record(status=0, how="returned")

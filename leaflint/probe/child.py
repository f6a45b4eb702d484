"""The probed program's process: activate the probe, then run SCRIPT or -m MODULE as
``python SCRIPT`` / ``python -m MODULE`` would (``__main__``, ``sys.argv``, ``sys.path[0]``).

Invoked by the runner as ``python -c <boot> [--module] TARGET [ARGS...]``.
"""

from __future__ import annotations

import json
import os
import runpy
import shutil
import sys
import traceback


def _resolve_script(target: str) -> str:
    if os.path.exists(target):
        return os.path.abspath(target)
    found = shutil.which(target)  # console scripts such as torchrun
    if found:
        return found
    return os.path.abspath(target)


def _run_script(path: str) -> None:
    # coverage patches runpy's compile step to add the target-line hits (Python < 3.12)
    runpy.run_path(path, run_name="__main__")


def _exit_record(**data) -> None:
    from leaflint.probe import bootstrap

    if bootstrap._EVENTS is not None:
        data.update(k="exit", pid=os.getpid())
        bootstrap._EVENTS.write(json.dumps(data, default=str) + "\n")


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
    try:
        if is_module:
            sys.argv = [target] + args
            sys.path[0] = os.getcwd()
            runpy.run_module(target, run_name="__main__", alter_sys=True)
        else:
            path = _resolve_script(target)
            sys.argv = [path] + args
            sys.path[0] = os.path.dirname(path)
            _run_script(path)
    except SystemExit as exc:
        code = exc.code
        _exit_record(status=code if isinstance(code, int) or code is None else 1, how="SystemExit")
        raise
    except KeyboardInterrupt:
        _exit_record(status=130, how="KeyboardInterrupt")
        raise
    except BaseException as exc:
        tb = traceback.extract_tb(exc.__traceback__)
        where = None
        for fr in reversed(tb):
            where = f"{fr.filename}:{fr.lineno}"
            break
        _exit_record(status=1, how="exception",
                     exception=f"{type(exc).__name__}: {exc}"[:2000], where=where)
        raise
    _exit_record(status=0, how="returned")

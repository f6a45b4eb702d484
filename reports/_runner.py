"""Run many report programs quickly: import torch once, then run each file in a forked child.

    python reports/_runner.py FILE [FILE ...]

For every file, one JSON line on stdout: ``{"file": ..., "exit": N, "stdout": ..., "stderr": ...}``.
Each child runs the file with ``runpy.run_path(file, run_name="__main__")`` (as ``python FILE`` would),
its stdout and stderr captured to temporary files; exit 0 when the file returned, 1 when it raised.
Where ``os.fork`` is missing, each file runs in a fresh interpreter instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile


def _run_forked(path: str) -> dict:
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        pid = os.fork()
        if pid == 0:  # child
            code = 1
            try:
                os.dup2(out.fileno(), 1)
                os.dup2(err.fileno(), 2)
                sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
                sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)
                import runpy
                import traceback

                sys.argv = [path]
                try:
                    runpy.run_path(path, run_name="__main__")
                    code = 0
                except SystemExit as exc:
                    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
                except BaseException:  # noqa: BLE001 - report any failure of the program as exit 1
                    traceback.print_exc()
                    code = 1
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        exit_code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return {"file": path, "exit": exit_code, "stdout": out.read(), "stderr": err.read()}


def _run_fresh(path: str) -> dict:
    proc = subprocess.run([sys.executable, path], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    return {"file": path, "exit": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr}


def main(paths: list[str]) -> int:
    fork = hasattr(os, "fork")
    if fork:
        import torch  # noqa: F401 - imported once, before forking, so each child starts warm

        torch.set_num_threads(1)
    for path in paths:
        result = _run_forked(os.path.abspath(path)) if fork else _run_fresh(os.path.abspath(path))
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

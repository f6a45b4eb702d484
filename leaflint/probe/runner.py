"""Run the user's program in a child process under the probe (no torch here)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

from leaflint.probe.events import ENV_DIR, ENV_KEEP_GOING, ENV_ROOT, ENV_TARGETS, read_coverage, read_events

BOOT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_boot")
_PKG_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_CHILD_BOOT = (
    "import sys\n"
    "try:\n"
    "    import leaflint.probe.child as _c\n"
    "except ImportError:\n"
    f"    sys.path.append({_PKG_PARENT!r})\n"
    "    import leaflint.probe.child as _c\n"
    f"    sys.path.remove({_PKG_PARENT!r})\n"
    "_c.main()\n"
)


@dataclass
class RunResult:
    command: list[str]
    returncode: int | None
    timed_out: bool = False
    interrupted: bool = False
    duration: float = 0.0
    events: list[dict] = field(default_factory=list)
    coverage: set = field(default_factory=set)
    events_dir: str = ""
    launch_error: str | None = None

    @property
    def exit_record(self) -> dict | None:
        recs = [e for e in self.events if e.get("k") == "exit"]
        return recs[-1] if recs else None

    @property
    def processes(self) -> list[dict]:
        return [e for e in self.events if e.get("k") == "proc"]

    @property
    def probe_errors(self) -> list[dict]:
        return [e for e in self.events if e.get("k") == "probe_error"]

    def status_text(self) -> str:
        if self.launch_error:
            return f"could not start: {self.launch_error}"
        if self.timed_out:
            return f"timed out after {self.duration:.0f}s (killed)"
        if self.interrupted:
            return "interrupted"
        rc = self.returncode
        if rc is None:
            return "unknown exit status"
        if rc < 0:
            try:
                name = signal.Signals(-rc).name
            except ValueError:
                name = f"signal {-rc}"
            return f"killed by {name}"
        text = f"exit status {rc}"
        rec = self.exit_record
        if rec and rec.get("exception"):
            where = f" at {rec['where']}" if rec.get("where") else ""
            text += f" (uncaught {rec['exception'].splitlines()[0][:300]}{where})"
        return text


def probe_env(events_dir: str, root: str, keep_going: bool, targets_file: str | None,
              base: dict | None = None) -> dict:
    env = dict(os.environ if base is None else base)
    env[ENV_DIR] = events_dir
    env[ENV_ROOT] = os.path.realpath(root)
    env[ENV_KEEP_GOING] = "1" if keep_going else "0"
    if targets_file:
        env[ENV_TARGETS] = targets_file
    else:
        env.pop(ENV_TARGETS, None)
    env["TORCH_COMPILE_DISABLE"] = "1"
    old = env.get("PYTHONPATH")
    env["PYTHONPATH"] = BOOT_DIR + (os.pathsep + old if old else "")
    return env


def write_targets(directory: str, targets: dict[str, list[int]] | None) -> str | None:
    if targets is None:
        return None
    path = os.path.join(directory, "targets.json")
    with open(path, "w", encoding="utf-8") as fh:
        json.dump({k: sorted(set(v)) for k, v in targets.items()}, fh)
    return path


def run(target: str, args: list[str], *, module: bool = False, root: str = ".",
        timeout: float | None = None, keep_going: bool = False,
        targets: dict[str, list[int]] | None = None, stdout=None, stderr=None,
        events_dir: str | None = None, python: str | None = None) -> RunResult:
    """Run ``python SCRIPT ARGS`` or ``python -m MODULE ARGS`` under the probe."""
    own_dir = events_dir is None
    if own_dir:
        events_dir = tempfile.mkdtemp(prefix="leaflint-probe-")
    targets_file = write_targets(events_dir, targets)
    env = probe_env(events_dir, root, keep_going, targets_file)
    env.pop("PYTEST_CURRENT_TEST", None)  # stale when the probe itself runs inside a test
    cmd = [python or sys.executable, "-c", _CHILD_BOOT]
    if module:
        cmd.append("--module")
    cmd += [target, *args]
    shown = (["python", "-m", target] if module else ["python", target]) + list(args)
    result = RunResult(command=shown, returncode=None, events_dir=events_dir)
    start = time.monotonic()
    try:
        proc = subprocess.Popen(cmd, env=env, stdout=stdout, stderr=stderr, start_new_session=True)
    except OSError as exc:
        result.launch_error = str(exc)
        return result
    try:
        result.returncode = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        result.timed_out = True
        _stop(proc)
    except KeyboardInterrupt:
        result.interrupted = True
        _stop(proc, first=signal.SIGINT)
    finally:
        result.duration = time.monotonic() - start
    if result.returncode is None and proc.returncode is not None:
        result.returncode = proc.returncode
    result.events = read_events(events_dir)
    result.coverage = read_coverage(events_dir)
    return result


def _stop(proc: subprocess.Popen, first: int = signal.SIGTERM, grace: float = 5.0) -> None:
    """Signal the child's whole process group (workers included), then kill it."""
    for sig in (first, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue

"""Run the user's program in a child process under the probe (no torch here)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

from leaflint.probe import schema
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


# Exit statuses of a run that did not complete (the shell's conventions: GNU `timeout`, 128+N).
TIMEOUT_STATUS = 124
NOT_STARTED_STATUS = 2


@dataclass
class RunResult:
    command: list[str]
    returncode: int | None
    timed_out: bool = False
    interrupted: int | None = None  # the signal the probe itself received (SIGINT, SIGTERM)
    duration: float = 0.0
    events: list[dict] = field(default_factory=list)
    coverage: set = field(default_factory=set)
    events_dir: str = ""
    launch_error: str | None = None

    @property
    def exit_record(self) -> dict | None:
        recs = [e for e in self.events if e.get("k") == schema.EXIT]
        return recs[-1] if recs else None

    @property
    def processes(self) -> list[dict]:
        return [e for e in self.events if e.get("k") == schema.PROC]

    @property
    def probe_errors(self) -> list[dict]:
        return [e for e in self.events if e.get("k") == schema.PROBE_ERROR]

    @property
    def monitor_errors(self) -> tuple[int, list[dict]]:
        """``monitor_errors`` of the run's events."""
        return monitor_errors(self.events)

    @property
    def not_started(self) -> str | None:
        """Why the program could not be started (launch failure, script or module not found)."""
        if self.launch_error:
            return self.launch_error
        rec = self.exit_record
        if rec is not None and rec.get("how") == "not_started":
            return rec.get("error") or "the program could not be started"
        return None

    @property
    def importing_torch(self) -> bool:
        """A process had started importing torch but no monitor was installed yet."""
        return any(e.get("k") == schema.TORCH_IMPORT for e in self.events) and not self.processes

    @property
    def completed(self) -> bool:
        """The program ran to its own end (an exit status of its own, not a kill)."""
        return (not self.timed_out and self.interrupted is None and self.returncode is not None
                and self.returncode >= 0)

    def exit_status(self) -> int:
        """The program's part of the probe's exit status (see docs/probe.md, "Exit status")."""
        if self.not_started:
            return NOT_STARTED_STATUS
        if self.timed_out:
            return TIMEOUT_STATUS
        if self.interrupted is not None:
            return 128 + self.interrupted
        rc = self.returncode
        if rc is None:
            return 1
        if rc < 0:
            return 128 - rc
        return rc

    def status_text(self) -> str:
        if self.not_started:
            return f"could not start: {self.not_started}"
        if self.timed_out:
            return f"timed out after {self.duration:.0f}s (killed)"
        if self.interrupted is not None:
            return f"interrupted by {_signal_name(self.interrupted)} (the program was stopped)"
        rc = self.returncode
        if rc is None:
            return "unknown exit status"
        if rc < 0:
            return f"killed by {_signal_name(-rc)}"
        text = f"exit status {rc}"
        rec = self.exit_record
        if rec and rec.get("exception"):
            where = f" at {rec['where']}" if rec.get("where") else ""
            text += f" (uncaught {rec['exception'].splitlines()[0][:300]}{where})"
        return text


def monitor_errors(events: list[dict]) -> tuple[int, list[dict]]:
    """(how many times a part of the monitor failed, summed over processes; the records that
    carry a message). Events may be missing where it failed."""
    total: dict = {}
    messages = []
    for e in events:
        if e.get("k") == schema.MONITOR_ERROR:
            total[e.get("pid")] = max(total.get(e.get("pid"), 0), e.get("n") or 0)
            if e.get("error"):
                messages.append(e)
    return sum(total.values()), messages


def _signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"signal {num}"


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
        events_dir: str | None = None, python: str | None = None,
        ready_file: str | None = None, grace: float = 5.0) -> RunResult:
    """Run ``python SCRIPT ARGS`` or ``python -m MODULE ARGS`` under the probe.

    ``timeout`` counts from the start, or from the moment ``ready_file`` exists when one is
    given (the program writes it when it is ready: start-up, imports and data loading are
    then not counted). At the timeout, or when this process gets SIGINT or SIGTERM, the
    program's process group gets that signal (SIGTERM for a timeout), then SIGKILL after
    ``grace`` seconds; the events written until then are read back either way.
    """
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
    with _signals_as_exceptions():
        try:
            result.returncode = _wait(proc, timeout, ready_file)
        except subprocess.TimeoutExpired:
            result.timed_out = True
            _stop(proc, grace=grace)
        except _Stopped as stop:
            result.interrupted = stop.signum
            _stop(proc, first=stop.signum, grace=grace)
        finally:
            result.duration = time.monotonic() - start
    if result.returncode is None and proc.returncode is not None:
        result.returncode = proc.returncode
    result.events = read_events(events_dir)
    result.coverage = read_coverage(events_dir)
    return result


def _wait(proc: subprocess.Popen, timeout: float | None, ready_file: str | None) -> int:
    """The program's return code; TimeoutExpired ``timeout`` seconds after the clock started."""
    if timeout is None:
        return proc.wait()
    if ready_file is None:
        return proc.wait(timeout=timeout)
    while not os.path.exists(ready_file):
        try:
            return proc.wait(timeout=0.05)
        except subprocess.TimeoutExpired:
            continue
    return proc.wait(timeout=timeout)


class _Stopped(Exception):
    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def _signals_as_exceptions():
    """SIGINT and SIGTERM sent to the probe stop the wait (to forward them and report)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise _Stopped(signum)

    saved = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            saved[sig] = signal.signal(sig, handler)
        except (ValueError, OSError):
            continue
    try:
        yield
    finally:
        for sig, old in saved.items():
            signal.signal(sig, old)


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
        except _Stopped:  # a second Ctrl-C: kill now
            continue

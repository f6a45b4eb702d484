"""The monitor's process-wide state and the one writer of its records (imports torch).

``STATE`` is set once per process by ``monitor.install``; every part of the monitor reads it.
``emit`` stamps a record (pid, rank, pytest test id, thread) and appends it to the process's
events file, once per dedupe key; the first record of a process is preceded by its ``proc``
record (see ``schema``).

A hook that fails never breaks the program and is never silent: ``failed`` counts it in a
``monitor_error`` record (the first few with their message, then at each power of two, and
the total when the process exits), which the probe reports (``leaflint probe --verbose``).
"""

from __future__ import annotations

import os
import sys
import threading

import torch
from torch.utils.weak import WeakIdKeyDictionary

from leaflint.probe import schema
from leaflint.probe.events import AppendFile, dumps
from leaflint.probe.project import Project


def rank() -> int | None:
    for var in ("RANK", "LOCAL_RANK"):
        value = os.environ.get(var)
        if value is not None and value.lstrip("-").isdigit():
            return int(value)
    return None


class ProbeState:
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
        self.built = WeakIdKeyDictionary()  # module given a trainable Parameter in forward -> where built
        self.inplace_built = WeakIdKeyDictionary()  # torch layer built with inplace=True -> where built
        self.replaced = WeakIdKeyDictionary()  # old Parameter -> location dict of the replacement
        self.pending_writes: list[dict] = []  # .data writes waiting for the next backward
        self.taint = WeakIdKeyDictionary()  # value derived from a .data read in forward -> read
        self.cut_reads = WeakIdKeyDictionary()  # .data of a graph value read in forward -> the read
        self.any_taint = False
        self.consumers: dict = {}  # (sequence_nr, node type) of graph nodes fed a tainted value -> read
        self.seq_probe = None
        self.proc_written = False
        self.lock = threading.RLock()
        self.failures = 0  # hooks that failed in this process (``failed``)
        self.failures_written = 0  # the ``n`` of the last monitor_error record written

    # -- forward stack ------------------------------------------------------------
    def fwd_stack(self) -> list:
        try:
            return self.tls.stack
        except AttributeError:
            self.tls.stack = []
            return self.tls.stack


STATE: ProbeState | None = None


def emit(record: schema.Event, key) -> bool:
    """Write ``record`` unless ``key`` was written already. Returns True if written."""
    st = STATE
    if key is not None:
        if key in st.written:
            return False
        st.written.add(key)
    if not st.proc_written:
        st.proc_written = True
        st.events.write(dumps(proc_record()))
    record["pid"] = os.getpid()
    stamp = rank()
    if stamp is not None:
        record["rank"] = stamp
    test = os.environ.get("PYTEST_CURRENT_TEST")
    if test:
        record["test"] = test.rsplit(" (", 1)[0]
    if threading.current_thread() is not threading.main_thread():
        record["thread"] = threading.current_thread().name
    st.events.write(dumps(record))
    return True


def proc_record() -> schema.Proc:
    return {
        "k": schema.PROC,
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "rank": rank(),
        "argv": list(sys.argv[:6]),
        "torch": torch.__version__,
        "compile_disabled": os.environ.get("TORCH_COMPILE_DISABLE") == "1",
    }


MESSAGES = 5  # failures of a process recorded with their message


def failed(where: str, exc: BaseException) -> None:
    """A part of the monitor failed at ``where``: count it and record it (never raises)."""
    st = STATE
    if st is None:
        return
    st.failures += 1
    n = st.failures
    if n <= MESSAGES or n & (n - 1) == 0:
        record: schema.MonitorError = {"k": schema.MONITOR_ERROR, "n": n, "where": where}
        if n <= MESSAGES:
            record["error"] = f"{type(exc).__name__}: {exc}"[:300]
        _write_failure(st, record)


def write_failure_total() -> None:
    """At exit: the process's total, when failures came after the last record written."""
    st = STATE
    if st is not None and st.failures > st.failures_written:
        _write_failure(st, {"k": schema.MONITOR_ERROR, "n": st.failures})


def _write_failure(st: ProbeState, record: schema.MonitorError) -> None:
    st.failures_written = record["n"]
    try:
        emit(record, None)
    except Exception:  # noqa: BLE001 - the writer itself failed: nothing is left to tell
        st.events.write(dumps({"k": schema.MONITOR_ERROR, "n": record["n"]}))

"""The event records of a probe run: one declaration per kind, shared by writer and reader (no torch).

Every record is one JSON object (``events.dumps``) in a per-process events file. The monitor
(``leaflint.probe.monitor`` and its parts), the LL4 tracker (``saved.py``), the bootstrap and
the child write them; ``runner``, ``reconcile`` and ``report`` read them. Each kind is a
``TypedDict`` below, named in ``KINDS``; ``check`` lists what a record does that its kind does
not declare (tests run it over the records of real runs, so a field the monitor starts writing
without declaring it here fails there).

Fields shared by most records:

* ``k``: the kind; ``pid``, ``rank``, ``test`` (pytest test id) and ``thread`` (not the main
  thread) stamp the writer;
* ``file`` (realpath), ``line``/``col``/``eline``/``ecol`` (1-based, columns in characters):
  the user location of the first frame inside the project;
* ``code`` (the rule the event bears on), ``codes`` (the codes whose runtime condition held;
  empty for an observation that refutes), ``op``, ``via`` (the torch/library function that did
  it when the user did not call it directly), ``fwd`` (the forward stack's module types);
* ``tensor``/``name``/``leaf``/``rg``/``grad_fn``/``view_of_leaf``: what the tensor was.
"""

from __future__ import annotations

import typing
from typing import Any, Optional, TypedDict, Union

# ---------------------------------------------------------------------------------------
# kind names

PROC = "proc"                  # a monitored process started (the monitor installed)
INPLACE = "inplace"            # an in-place op: LL101-LL106
DATA_SET = "data_set"          # ``t.data = v``: LL201/LL202
DATA_INPLACE = "data_inplace"  # an in-place op on the result of ``t.data``: LL201/LL202
DATA_HARM = "data_harm"        # a backward used a tensor saved before such a write: LL201
DATA_GET = "data_get"          # ``p.data`` read (an observation)
DATA_FLOW = "data_flow"        # such a value first fed an op whose output is in a graph
DATA_CUT = "data_cut"          # a backward ran through that op: LL203
PARAM_SET = "param_set"        # a Parameter registered on a module: LL301
MODULE_SET = "module_set"      # a module with parameters assigned to an attribute: LL302
MODULE_BUILT = "module_built"  # a module with parameters built in forward, called there unregistered: LL302
PARAM_ASSIGN = "param_assign"  # a plain tensor assigned over a Parameter slot: LL303
GRAD_CUT = "grad_cut"          # a module given a Parameter returned an output computed from it under no_grad: LL204
OPT_STEP = "opt_step"          # an optimizer stepped a Parameter replaced (LL301 in forward, LL304 outside), grad None
SAVED_WRITE = "saved_write"    # a write changed a tensor a graph had saved: LL401-LL403
PROBE_ERROR = "probe_error"    # the probe could not set itself up (coverage, the monitor)
MONITOR_ERROR = "monitor_error"  # a failure inside a hook of the running monitor (counted)
TORCH_IMPORT = "torch_import"  # a process started importing torch
EXIT = "exit"                  # how the probed program ended (the child)


# ---------------------------------------------------------------------------------------
# parts


class _Kind(TypedDict):
    k: str


class _Stamp(_Kind, total=False):
    pid: int
    rank: Optional[int]
    test: str
    thread: str


class Place(TypedDict):
    """A user location (``backward_at``, ``step_at``, ``save_at`` and every event's own)."""

    file: str
    line: int


class Span(Place, total=False):
    col: Optional[int]
    eline: int
    ecol: Optional[int]


class TensorDesc(TypedDict, total=False):
    tensor: str
    name: Optional[str]
    leaf: bool
    rg: bool
    grad_fn: Optional[str]
    view_of_leaf: bool


class ValueGraph(TypedDict):
    grad_fn: str
    leaves: list


class _Finding(_Stamp, Span, total=False):
    """An event about a rule: where, which rule, whether its condition held."""

    op: str
    code: str
    codes: list
    via: str
    fwd: Optional[list]


# ---------------------------------------------------------------------------------------
# the kinds


class Proc(_Kind, total=False):
    pid: int
    ppid: int
    rank: Optional[int]
    argv: list
    torch: str
    compile_disabled: bool


class Inplace(_Finding, TensorDesc, total=False):
    grad: bool
    err: str        # torch's exact message, "RuntimeError: ..."
    rerun: bool     # --keep-going re-ran it under no_grad


class DataWrite(_Finding, TensorDesc, total=False):
    """``data_set`` and ``data_inplace``."""

    grad: bool
    why: list       # "forward" (a mask written in forward), "noise" (random values added in forward), "discards_graph"
    value_graph: ValueGraph


class DataHarm(_Finding, TensorDesc, total=False):
    saved_by: str
    saved_attr: str
    why: list
    backward_at: Span


class DataGet(_Finding, TensorDesc, total=False):
    grad: bool
    fwd_read: bool  # read inside forward with grad on: followed through the ops it feeds
    metadata: Optional[str]


class DataFlow(_Finding, TensorDesc, total=False):
    consumer: str


class GradCut(_Finding, TensorDesc, total=False):
    module_type: str
    text: str        # the evidence, ready to show


class DataCut(_Finding, TensorDesc, total=False):
    consumer: str
    backward_at: Span
    param_grad: str  # "none" | "other_uses"
    output_of: str   # a forward returned the .data of a graph value: the module's class name


class ParamSet(_Finding, total=False):
    param: str
    path: Optional[str]
    replaced: bool
    trainable: bool
    value_graph: ValueGraph


class ModuleSet(_Finding, total=False):
    param: str
    module_type: str
    params: list


class ModuleBuilt(_Finding, total=False):
    module_type: str
    params: list


class ParamAssign(_Finding, total=False):
    param: str
    err: str         # "TypeError: ..." when torch refused the assignment
    handled: str     # the enclosing ``except`` that falls back on that error (a deliberate fallback)
    tensor: Optional[str]
    text: str        # the evidence, ready to show (a store into ``_parameters``)


class OptStep(_Finding, total=False):
    optimizer: str
    param: str
    step_at: Span
    chain_id: int    # LL304: one replacement, recorded at each user frame of its call chain
    chain_at: int    # the frame's place in that chain (0: the assigning line)
    text: str        # the evidence, ready to show (LL304)


class Versions(TypedDict, total=False):
    saved: int
    now: int
    history: list


class SavedWrite(_Finding, total=False):
    saved_by: str
    tensor: str
    name: Optional[str]
    text: str        # the evidence, ready to show
    versions: Versions
    silent: bool     # a write through ``.data``: no error, a wrong gradient
    save_at: Span
    backward_at: Span
    fallback: bool   # matched from torch's message (hooks off inside torch.func)


class ProbeError(_Kind, total=False):
    pid: int
    what: str
    tb: str


class MonitorError(_Stamp, total=False):
    n: int           # failures in this process so far (the last record of a pid has the total)
    where: str       # the hook that failed
    error: str       # repr of the exception (the first few failures of a process only)


class TorchImport(_Kind, total=False):
    pid: int


class Exit(_Kind, total=False):
    pid: int
    status: Optional[int]
    how: str         # "returned", "SystemExit", "exception", "KeyboardInterrupt", "not_started"
    error: str
    exception: str
    where: Optional[str]


Event = Union[Proc, Inplace, DataWrite, DataHarm, DataGet, DataFlow, DataCut, ParamSet, ModuleSet,
              ParamAssign, OptStep, SavedWrite, ProbeError, MonitorError, TorchImport, Exit]

KINDS: dict[str, type] = {
    PROC: Proc, INPLACE: Inplace, DATA_SET: DataWrite, DATA_INPLACE: DataWrite, DATA_HARM: DataHarm,
    DATA_GET: DataGet, DATA_FLOW: DataFlow, DATA_CUT: DataCut, GRAD_CUT: GradCut, PARAM_SET: ParamSet,
    MODULE_SET: ModuleSet, MODULE_BUILT: ModuleBuilt, PARAM_ASSIGN: ParamAssign, OPT_STEP: OptStep, SAVED_WRITE: SavedWrite,
    PROBE_ERROR: ProbeError, MONITOR_ERROR: MonitorError, TORCH_IMPORT: TorchImport, EXIT: Exit,
}


def put_present(record: dict, **fields) -> None:
    """Set on ``record`` each of the optional ``fields`` that has a value (not None, not empty),
    in the order given: ``put_present(rec, via=via, fwd=fwd)``."""
    for name, value in fields.items():
        if value:
            record[name] = value


# ---------------------------------------------------------------------------------------
# checking a record against its declaration


def check(record: dict) -> list[str]:
    """What ``record`` does that its kind does not declare: an unknown kind, an undeclared
    field, a missing required one, a value of the wrong JSON type. Empty when it conforms."""
    kind = record.get("k")
    cls = KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        return [f"unknown kind {kind!r}"]
    return _check(cls, record, kind)


def _check(cls: type, record: dict, where: str) -> list[str]:
    hints = _hints(cls)
    problems = [f"{where}: undeclared field {name!r}" for name in record if name not in hints]
    problems += [f"{where}: missing field {name!r}" for name in sorted(cls.__required_keys__)
                 if name not in record]
    for name, value in record.items():
        if name in hints and not _conforms(value, hints[name]):
            problems.append(f"{where}: field {name!r} = {value!r:.60} is not {_show(hints[name])}")
        elif name in hints and _is_typed_dict(hints[name]) and isinstance(value, dict):
            problems += _check(hints[name], value, f"{where}.{name}")
    return problems


_HINTS: dict = {}


def _hints(cls: type) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


def _is_typed_dict(tp) -> bool:
    return isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__required_keys__")


def _conforms(value, tp) -> bool:
    if tp is Any:
        return True
    origin = typing.get_origin(tp)
    if origin is Union:
        return any(_conforms(value, arg) for arg in typing.get_args(tp))
    if tp is type(None):
        return value is None
    if _is_typed_dict(tp):
        return isinstance(value, dict)
    base = origin or tp
    if base is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if base is list:
        return isinstance(value, list)
    return isinstance(value, base)


def _show(tp) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")

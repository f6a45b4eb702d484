"""Static findings x runtime events -> verdicts (no torch).

Every static finding gets one verdict:

* ``confirmed``: an event happened at the finding's span with the rule's condition true;
* ``refuted``: the line ran and the condition was false every time (grad mode off, not a
  leaf, no requires_grad, not inside forward, no graph held the tensor ...);
* ``not-reached``: the line never ran in any monitored process, in a file the run executed
  at least in part. Findings in files the run never started are left out (and counted).

Runtime events whose condition held and that no finding covers are ``missed``. What the
condition is, per rule, is a claim about harm (docs/probe.md, "What each verdict means").
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Iterable, Optional

from leaflint.findings import Finding, Position
from leaflint.probe import schema
from leaflint.probe.kinds import kinds_by_code
from leaflint.rules.catalog import CATALOG, SUMMARY

CONFIRMED, REFUTED, NOT_REACHED, MISSED = "confirmed", "refuted", "not-reached", "missed"

# Which event kinds can confirm or refute a finding of each code: each rule's ``probe_kinds``
# (through the generated catalog, leaflint/probe/kinds.py).
KINDS = kinds_by_code()


def rule_meta(code: str) -> tuple[str, str]:
    """(name, summary) of a rule, from the generated catalog (no rule module, no libcst)."""
    if code in CATALOG:
        return CATALOG[code][0], SUMMARY[code]
    return code.lower(), code


@dataclass
class Verdict:
    finding: Finding
    verdict: str
    evidence: str
    events: list = field(default_factory=list)

    def to_dict(self) -> dict:
        data = self.finding.to_dict()
        data["verdict"] = self.verdict
        data["evidence"] = self.evidence
        return data


@dataclass
class Reconciled:
    verdicts: list[Verdict]
    missed: list[Verdict]
    outside_root: int = 0
    left_out: int = 0  # findings in files the run never executed
    left_out_files: int = 0

    def counts(self) -> dict[str, int]:
        out = {CONFIRMED: 0, REFUTED: 0, NOT_REACHED: 0, MISSED: len(self.missed)}
        for v in self.verdicts:
            out[v.verdict] = out.get(v.verdict, 0) + 1
        return out

    def all(self) -> list[Verdict]:
        return sorted(self.verdicts + self.missed, key=lambda v: v.finding.sort_key())


# ------------------------------------------------------------------------------------


def _span_of(ev: schema.Event) -> tuple[tuple[int, int], tuple[int, int]]:
    line = ev.get("line") or 0
    col = ev.get("col") or 1
    eline = ev.get("eline") or line
    ecol = ev.get("ecol") or 10**6
    return (line, col), (eline, ecol)


def _overlaps(f: Finding, ev: schema.Event) -> bool:
    (s, e) = _span_of(ev)
    fs = (f.location.row, f.location.column)
    fe = (f.end_location.row, max(f.end_location.column, f.location.column + 1 if f.end_location.row == f.location.row else f.end_location.column))
    return s <= fe and fs <= e


def _real(filename: str, cwd: str) -> str:
    return os.path.realpath(os.path.join(cwd, filename))


def _display(real: str, cwd: str) -> str:
    try:
        rel = os.path.relpath(real, cwd)
    except ValueError:
        return real
    return real if rel.startswith("..") else rel


def reconcile(findings: Iterable[Finding], events: list[schema.Event], coverage: set[tuple[str, int]],
              enabled_codes: Optional[set[str]] = None, cwd: Optional[str] = None,
              coverage_known: bool = True) -> Reconciled:
    cwd = cwd or os.getcwd()
    findings = list(findings)
    by_file: dict[str, list[dict]] = {}
    outside = 0
    for ev in events:
        if ev.get("k") not in _ALL_KINDS:
            continue
        if not ev.get("file"):
            outside += 1
            continue
        by_file.setdefault(ev["file"], []).append(ev)
    # Files the run executed at least in part: line 0 is "the module started" (coverage).
    executed = {real for real, _ in coverage} | set(by_file)

    verdicts = []
    left_out: set = set()
    n_left_out = 0
    for f in findings:
        kinds = KINDS.get(f.code)
        real = _real(f.filename, cwd)
        if kinds is None:
            continue  # diagnostics (LL001...) are not probe subjects
        if coverage_known and f.cell is None and real not in executed:
            n_left_out += 1
            left_out.add(real)
            continue
        if f.cell is not None or not real.endswith(".py"):
            verdicts.append(Verdict(f, NOT_REACHED, "not probed: the probe runs Python files, not notebook cells"))
            continue
        evs = [ev for ev in by_file.get(real, ()) if ev.get("k") in kinds and _overlaps(f, ev)]
        verdicts.append(_judge(f, real, evs, coverage, coverage_known))

    missed = []
    seen = set()
    chains = _covered_chains(findings, events, cwd)
    for ev in events:
        if "chain_id" in ev and (ev["chain_id"] in chains or ev.get("chain_at") != _outermost(ev, events)):
            continue  # LL304: one replacement seen along its call chain counts once
        codes = [c for c in ev.get("codes") or () if enabled_codes is None or c in enabled_codes]
        if not codes or ev.get("k") not in _ALL_KINDS or not ev.get("file"):
            continue
        if ev.get("via") and not _indirect_reportable(ev):
            continue
        # A code is covered by a finding of that code at that span (any LL1 code for LL1:
        # `w -= x` and `w.sub_(x)` are one runtime event).
        uncovered = [c for c in codes if not any(
            _same_rule(f.code, c) and _real(f.filename, cwd) == ev["file"] and _overlaps(f, ev) for f in findings)]
        if not uncovered:
            continue
        code = uncovered[0]
        key = (ev["file"], ev.get("line"), ev.get("col"), code)
        if key in seen:
            continue
        seen.add(key)
        name, message = rule_meta(code)
        finding = Finding(code=code, name=name, message=message, filename=_display(ev["file"], cwd),
                          location=Position(ev.get("line") or 1, ev.get("col") or 1),
                          end_location=Position(ev.get("eline") or ev.get("line") or 1, ev.get("ecol") or 1))
        missed.append(Verdict(finding, MISSED, _confirm_text(code, [ev] + _related(ev, events)), [ev]))
    return Reconciled(verdicts, missed, outside, n_left_out, len(left_out))


_ALL_KINDS = set().union(*KINDS.values())


def _covered_chains(findings: list[Finding], events: list[schema.Event], cwd: str) -> set:
    """The ``chain_id`` of each replacement (LL304) that a finding covers at any frame of its chain."""
    covered = set()
    for ev in events:
        if "chain_id" in ev and ev.get("file") and any(
                f.code == ev.get("code") and _real(f.filename, cwd) == ev["file"] and _overlaps(f, ev) for f in findings):
            covered.add(ev["chain_id"])
    return covered


def _outermost(ev: schema.Event, events: list[schema.Event]) -> int:
    return max(other.get("chain_at", 0) for other in events if other.get("chain_id") == ev["chain_id"])


def _same_rule(finding_code: str, event_code: str) -> bool:
    if finding_code.startswith("LL1") and event_code.startswith("LL1"):
        return True
    return finding_code == event_code


def _family(code: Optional[str]) -> str:
    return (code or "")[:3]


def _indirect_reportable(ev: schema.Event) -> bool:
    """Events inside torch/library code called by the user: report the ones that hurt
    (an error, a live graph, forward state) - not torch's own `.data` bookkeeping."""
    code = ev.get("code") or ""
    if code.startswith(("LL1", "LL3", "LL4")):  # LL4: torch raised at backward, or the gradient is wrong
        return True
    return "LL201" in (ev.get("codes") or ())


def _related(ev: schema.Event, events: list[schema.Event]) -> list[dict]:
    """Other events at the same site (harm found at backward, optimizer evidence)."""
    out = []
    for other in events:
        if other is ev or other.get("file") != ev.get("file") or other.get("line") != ev.get("line"):
            continue
        if other.get("k") in (schema.DATA_HARM, schema.OPT_STEP) and other.get("codes"):
            out.append(other)
    return out


def _judge(f: Finding, real: str, evs: list[schema.Event], coverage, coverage_known: bool) -> Verdict:
    code = f.code
    if code in ("LL101", "LL102", "LL103", "LL104", "LL105", "LL106"):
        hits = [ev for ev in evs if ev.get("codes")]
    else:
        hits = [ev for ev in evs if code in (ev.get("codes") or ())]
    if hits:
        hits.sort(key=lambda ev: (0 if ev.get("k") in (schema.DATA_HARM, schema.OPT_STEP) else 1, 0 if ev.get("err") else 1))
        return Verdict(f, CONFIRMED, _confirm_text(code, hits), hits)
    if evs:
        return Verdict(f, REFUTED, _refute_text(code, evs), evs)
    ran = any((real, ln) in coverage for ln in range(f.location.row, f.end_location.row + 1))
    if ran:
        return Verdict(f, REFUTED, _ran_without_event(code))
    if not coverage_known:
        return Verdict(f, NOT_REACHED, "no event at this line, and line coverage was not available")
    return Verdict(f, NOT_REACHED, "this line never ran in any monitored process")


# ------------------------------------------------------------------------------------
# evidence text


def _tensor_text(ev: schema.Event) -> str:
    desc = ev.get("tensor") or "tensor"
    name = ev.get("name")
    parts = [f"`{name}` ({desc})" if name else desc]
    attrs = []
    if "leaf" in ev:
        if ev.get("leaf"):
            attrs.append("leaf")
        elif ev.get("view_of_leaf"):
            attrs.append("view of a leaf")
        else:
            attrs.append(f"not a leaf (grad_fn={ev.get('grad_fn')})")
    if "rg" in ev:
        attrs.append("requires grad" if ev.get("rg") else "does not require grad")
    if attrs:
        parts.append(", ".join(attrs))
    return " - ".join(parts) if len(parts) == 1 else f"{parts[0]}: {parts[1]}"


def _where(ev: schema.Event) -> str:
    bits = []
    if ev.get("fwd"):
        bits.append("inside forward of " + " > ".join(ev["fwd"]))
    if ev.get("via"):
        bits.append(f"via {ev['via']}")
    if ev.get("test"):
        bits.append(f"test {ev['test']}")
    if ev.get("rank") is not None:
        bits.append(f"rank {ev['rank']}")
    if ev.get("thread"):
        bits.append(f"thread {ev['thread']}")
    return f" [{'; '.join(bits)}]" if bits else ""


def _loc_text(loc: Optional[schema.Span]) -> str:
    if not loc:
        return "?"
    return f"{_display(loc['file'], os.getcwd())}:{loc['line']}"


def _confirm_text(code: str, hits: list[schema.Event]) -> str:
    ev = hits[0]
    kind = ev.get("k")
    if ev.get("text"):  # events that explain themselves (saved_write: LL4)
        return ev["text"] + _where(ev)
    if kind == schema.INPLACE:
        op = ev.get("op")
        if ev.get("err"):
            text = f"`{op}` on {_tensor_text(ev)}, grad mode on: torch raised {ev['err']}"
        else:
            text = f"`{op}` ran on {_tensor_text(ev)} with grad mode on"
        if ev.get("rerun"):
            text += "; --keep-going re-ran it under no_grad"
        return text + _where(ev)
    if kind in (schema.DATA_SET, schema.DATA_INPLACE, schema.DATA_HARM):
        parts = []
        harm = next((h for h in hits if h.get("k") == schema.DATA_HARM), None)
        write = next((h for h in hits if h.get("k") != schema.DATA_HARM), ev)
        what = "`.data =` write" if write.get("op") == ".data =" else f"`{write.get('op')}` through `.data`"
        parts.append(f"{what} on {_tensor_text(write)}"
                     + (", grad mode on" if write.get("grad") else ""))
        if harm is not None:
            parts.append(
                f"the graph had saved this tensor ({harm.get('saved_by')}.{harm.get('saved_attr')}) before the write; "
                f"the backward at {_loc_text(harm.get('backward_at'))} used the new values: the gradient is silently wrong")
        why = set(write.get("why") or ())
        if "forward" in why:
            parts.append("inside forward: the mask is written into the weights on every call, bypassing autograd")
        if "noise" in why:
            parts.append("inside forward: random values drawn in this forward are added into the weights, on every "
                         "call, bypassing autograd")
        vg = write.get("value_graph")
        if vg:
            leaves = ", ".join(f"`{x}`" for x in vg.get("leaves") or () if x)
            parts.append(f"the value assigned carries a graph ({vg.get('grad_fn')}) that the write discards"
                         + (f": {leaves} get no gradient through it" if leaves else ""))
        if code == "LL202" and not harm and not why:
            parts.append("autograd's version counter is bypassed (use `with torch.no_grad(): x.copy_(y)`)")
        return "; ".join(parts) + _where(write)
    if kind == schema.DATA_CUT and ev.get("output_of"):
        return (f"`.data` of {_tensor_text(ev)}, read inside forward, was the output of {ev['output_of']}: "
                f"the output carried no graph, so nothing that computed it could get a gradient") + _where(ev)
    if kind == schema.DATA_CUT:
        grad = {"none": "; its grad is None after the backward",
                "other_uses": "; it got a gradient only through its other uses"}.get(ev.get("param_grad"), "")
        return (f"`.data` of {_tensor_text(ev)} read inside forward fed {ev.get('consumer')} in the graph that "
                f"the backward at {_loc_text(ev.get('backward_at'))} ran through: the parameter got no gradient "
                f"through this use{grad}") + _where(ev)
    if kind in (schema.PARAM_SET, schema.OPT_STEP):
        setter = next((h for h in hits if h.get("k") == schema.PARAM_SET), None)
        step = next((h for h in hits if h.get("k") == schema.OPT_STEP), None)
        parts = []
        ref = setter or ev
        pname = ref.get("param")
        path = ref.get("path")
        if path and pname and "." in pname:
            pname = f"{path}.{pname.split('.', 1)[1]}"
        if setter is not None:
            parts.append(f"forward replaced Parameter `{pname}` with a new leaf")
            vg = setter.get("value_graph")
            if vg:
                leaves = ", ".join(f"`{x}`" for x in vg.get("leaves") or () if x)
                parts.append(f"the new value's producers ({vg.get('grad_fn')}"
                             + (f" of {leaves}" if leaves else "") + ") get no gradient")
        if step is not None:
            parts.append(f"the optimizer ({step.get('optimizer')}) at {_loc_text(step.get('step_at'))} steps the "
                         f"replaced Parameter `{step.get('param')}` and its grad is None")
        return "; ".join(parts) + _where(ref)
    if kind == schema.MODULE_SET:
        params = ", ".join(ev.get("params") or ())
        return (f"forward assigned a new {ev.get('module_type')} to `{ev.get('param')}` (parameters: {params}): "
                f"new, untrained parameters on every call that no optimizer holds") + _where(ev)
    if kind == schema.MODULE_BUILT:
        params = ", ".join(ev.get("params") or ())
        return (f"a {ev.get('module_type')} built inside forward was called without being registered on the "
                f"module (parameters: {params}): fresh random parameters on every call, not in "
                f"model.parameters(), never trained") + _where(ev)
    if kind == schema.PARAM_ASSIGN:
        return f"assigning {ev.get('tensor')} to `{ev.get('param')}`: torch raised {ev.get('err')}" + _where(ev)
    return kind or "event"


def _refute_text(code: str, evs: list[schema.Event]) -> str:
    ev = evs[0]
    kind = ev.get("k")
    if kind == schema.INPLACE:
        if not ev.get("grad"):
            why = "grad mode was off (no_grad / inference_mode / set_grad_enabled(False) in a caller)"
        elif not ev.get("rg"):
            why = "the tensor does not require grad"
        elif not ev.get("leaf") and not ev.get("view_of_leaf"):
            why = f"the tensor is not a leaf (grad_fn={ev.get('grad_fn')})"
        elif ev.get("err"):
            why = f"torch raised another error first ({ev['err'][:200]})"
        else:
            why = "torch did not raise the leaf error"
        return f"`{ev.get('op')}` ran on {_tensor_text(ev)}; {why}" + _where(ev)
    if kind in (schema.DATA_SET, schema.DATA_INPLACE):
        if code == "LL201":
            why = []
            why.append("not inside forward")
            why.append("no later backward used a tensor saved before the write")
            if not ev.get("value_graph"):
                why.append("the value carried no graph")
            if not ev.get("grad"):
                why.insert(0, "grad mode was off")
            return f"the write ran on {_tensor_text(ev)}: " + ", ".join(why) + _where(ev)
        why = "grad mode was off" if not ev.get("grad") else "the tensor does not require grad"
        return f"the write ran on {_tensor_text(ev)}; {why}" + _where(ev)
    if kind in (schema.DATA_GET, schema.DATA_FLOW):
        flow = next((e for e in evs if e.get("k") == schema.DATA_FLOW), None)
        if flow is not None:
            return (f"`.data` of {_tensor_text(flow)} was read inside forward and fed {flow.get('consumer')}, "
                    f"but no backward() ran through that graph") + _where(flow)
        read = next((e for e in evs if e.get("fwd_read")), None)
        if read is not None:
            return (f"`.data` of {_tensor_text(read)} was read inside forward, but the value never reached a "
                    f"computation autograd records (it only fed no-grad uses: a write back through `.data`, "
                    f"a kept copy ...): no gradient was lost") + _where(read)
        if ev.get("metadata"):
            why = f"only for its metadata (`.data.{ev['metadata']}`)"
        else:
            why = "outside forward" if not ev.get("fwd") else "with grad mode off"
        return f"`.data` of {_tensor_text(ev)} was read {why}" + _where(ev)
    if kind == schema.PARAM_SET:
        if not ev.get("fwd"):
            return f"Parameter `{ev.get('param')}` was assigned outside forward (construction or surgery)" + _where(ev)
        if ev.get("replaced") and not ev.get("trainable", True):
            return (f"Parameter `{ev.get('param')}` was replaced in forward, but neither it nor the new one "
                    f"requires grad (a fixed table)") + _where(ev)
        if ev.get("replaced"):
            return (f"forward replaced Parameter `{ev.get('param')}` with a new leaf, but the new value carried "
                    f"no graph and no optimizer stepped the replaced Parameter in this run: no lost gradient "
                    f"was observed") + _where(ev)
        return f"Parameter `{ev.get('param')}` was registered in forward but replaced nothing" + _where(ev)
    if kind == schema.MODULE_SET:
        return (f"the {ev.get('module_type')} assigned in forward owns no trainable parameters, or filled an "
                f"empty slot (a one-time creation, not a rebuild)") + _where(ev)
    if kind == schema.PARAM_ASSIGN:
        if ev.get("handled"):
            return (f"assigning {ev.get('tensor')} to `{ev.get('param')}`: torch raised {ev.get('err')}, and the "
                    f"enclosing `except {ev['handled']}` falls back (a deliberate fallback)") + _where(ev)
        return f"`{ev.get('param')}` was assigned without error ({ev.get('tensor')})" + _where(ev)
    return "the line ran; the rule's condition was false"


def _ran_without_event(code: str) -> str:
    fam = _family(code)
    if fam == "LL1":
        return "the line ran, but no in-place tensor op was seen at this span (not a tensor, or not called)"
    if code == "LL203":
        return "the line ran, but no `.data` read of a tensor that requires grad happened at this span"
    if fam == "LL2":
        return "the line ran, but no `.data` write on a tensor was seen at this span"
    if code == "LL303":
        return "the line ran and assigned no plain tensor over a Parameter (no TypeError)"
    if code == "LL302":
        return "the line ran, but no module was assigned inside forward at this span"
    if fam == "LL4":
        return "the line ran, but no backward needed a tensor it modified (no saved tensor's version moved)"
    if code == "LL301":
        return "the line ran, but no Parameter was replaced inside forward at this span"
    return "the line ran, but no event of this rule happened at this span"

"""Each rule's examples, Fixit's way: a ``Valid`` example produces none of its findings; an
``Invalid`` one at least one, and applying the rule's fixes (unsafe ones included) to it gives
exactly its ``fixed`` text (None: the rule offers no fix there). Each fix's applicability is one
the rule declares, a rule that declares a fix shows it on an example and attaches it only through
its declared ``fix_builder``, and every rule names the runtime event kinds that confirm it
(``probe_kinds``, read by leaflint/probe/kinds.py)."""

from __future__ import annotations

import pytest

from leaflint.engine import lint_source
from leaflint.fix import fix_text
from leaflint.probe.kinds import kinds_by_code
from leaflint.rules import REGISTRY
from leaflint.rules.base import Invalid, Valid

CASES = [(code, kind, i, example) for code, cls in sorted(REGISTRY.items())
         for kind, examples in (("valid", cls.valid), ("invalid", cls.invalid))
         for i, example in enumerate(examples)]


def _findings(code: str, source: str):
    return [f for f in lint_source(source, "example.py", [REGISTRY[code]()]) if f.code == code]


@pytest.mark.parametrize("code,kind,index,example", CASES, ids=[f"{c}-{k}-{i}" for c, k, i, _ in CASES])
def test_rule_example(code, kind, index, example):
    findings = _findings(code, example.code)
    if kind == "valid":
        assert isinstance(example, Valid)
        assert findings == []
        return
    assert isinstance(example, Invalid)
    assert findings, f"{code} INVALID example {index} produced no finding"
    declared = REGISTRY[code].fix_applicability
    for finding in findings:
        if finding.fix is not None:
            assert finding.fix.applicability in declared, \
                f"{code} attached a {finding.fix.applicability} fix; it declares {declared}"
    rules = [REGISTRY[code]()]
    result = fix_text(example.code, lambda text: lint_source(text, "example.py", rules), unsafe=True)
    assert result.text == (example.fixed if example.fixed is not None else example.code)
    if example.fixed is not None:
        assert len([f for f in result.remaining if f.code == code]) < len(findings)


@pytest.mark.parametrize("code", sorted(REGISTRY))
def test_rule_has_docs_examples_fixes_and_probe_kinds(code):
    cls = REGISTRY[code]
    assert cls.valid and cls.invalid
    for heading in ("## What it does", "## Why is this bad?", "## Example", "## Use instead", "References"):
        assert heading in cls.docs, f"{code} docs lack {heading!r}"
    shown = [example for example in cls.invalid if example.fixed is not None]
    assert (cls.fix_builder is None) == (not cls.fix_applicability), \
        f"{code}: a fix builder goes with the applicabilities it attaches (and none with none)"
    if cls.fix_applicability:
        assert shown, f"{code} declares a fix ({cls.fix_applicability}) but no INVALID example shows it"
    else:
        assert not shown, f"{code} declares no fix"
    assert kinds_by_code(REGISTRY).get(code), f"{code} has no probe event kinds: the probe would skip it"


FIXABLE = sorted(code for code, cls in REGISTRY.items() if cls.fix_builder is not None)


@pytest.mark.parametrize("code", FIXABLE)
def test_fixes_come_from_the_declared_builder(code, monkeypatch):
    """The registry knows each rule's fix: ``check`` asks the declared ``fix_builder`` (through
    ``Rule.fix``) and calls no builder of its own, so a rule whose builder offers nothing
    attaches no fix."""
    cls = REGISTRY[code]
    builder = cls.fix_builder
    calls = []

    def recording(model, *subject):
        calls.append(subject)
        return builder(model, *subject)

    shown = [example.code for example in cls.invalid if example.fixed is not None]
    monkeypatch.setattr(cls, "fix_builder", recording)
    assert all(any(f.fix is not None for f in _findings(code, source)) for source in shown)
    assert calls, f"{code} attached its fixes without its declared fix_builder"
    monkeypatch.setattr(cls, "fix_builder", lambda model, *subject: None)
    for source in shown:
        assert all(f.fix is None for f in _findings(code, source)), \
            f"{code} attached a fix that its declared fix_builder did not build"

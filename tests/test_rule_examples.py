"""Each rule's examples, Fixit's way: a ``Valid`` example produces none of its findings; an
``Invalid`` one at least one, and applying the rule's fixes (unsafe ones included) to it gives
exactly its ``fixed`` text (None: the rule offers no fix there). Each fix's applicability is one
the rule declares, a rule that declares a fix shows it on an example, and every rule names the
runtime event kinds that confirm it (leaflint/probe/kinds.py, from the registry)."""

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
    if cls.fix_applicability:
        assert shown, f"{code} declares a fix ({cls.fix_applicability}) but no INVALID example shows it"
    else:
        assert not shown, f"{code} declares no fix"
    assert kinds_by_code(REGISTRY).get(code), f"{code} has no probe event kinds: the probe would skip it"

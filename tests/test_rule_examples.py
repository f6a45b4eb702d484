"""Each rule's VALID examples produce none of its findings; each INVALID example at least one."""

from __future__ import annotations

import pytest

from leaflint.engine import lint_source
from leaflint.rules import REGISTRY

CASES = [(code, kind, i, src) for code, cls in sorted(REGISTRY.items())
         for kind, examples in (("valid", cls.valid), ("invalid", cls.invalid))
         for i, src in enumerate(examples)]


@pytest.mark.parametrize("code,kind,index,source", CASES, ids=[f"{c}-{k}-{i}" for c, k, i, _ in CASES])
def test_rule_example(code, kind, index, source):
    findings = [f for f in lint_source(source, "example.py", [REGISTRY[code]()]) if f.code == code]
    if kind == "valid":
        assert findings == []
    else:
        assert findings, f"{code} INVALID example {index} produced no finding"


@pytest.mark.parametrize("code", sorted(REGISTRY))
def test_rule_has_docs_and_examples(code):
    cls = REGISTRY[code]
    assert cls.valid and cls.invalid
    for heading in ("## What it does", "## Why is this bad?", "## Example", "## Use instead", "References"):
        assert heading in cls.docs, f"{code} docs lack {heading!r}"

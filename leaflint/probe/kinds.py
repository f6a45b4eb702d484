"""Which runtime event kinds can confirm or refute a finding of each code (no torch, no libcst).

Each rule declares its kinds on its class (``Rule.probe_kinds``, in its rule module); the
generated ``leaflint/rules/catalog.py`` carries them as ``PROBE_KINDS``, so the probe reads
them without importing the rule modules (and libcst). tests/test_rule_docs.py fails when the
catalog disagrees with the classes, tests/test_probe_kinds.py when a rule declares no kinds.
"""

from __future__ import annotations

from typing import Mapping, Optional


def kinds_by_code(registry: Optional[Mapping[str, type]] = None) -> dict[str, set[str]]:
    """Code -> event kinds: from the rule classes of ``registry`` when given, else from the
    generated catalog (the same declarations). A rule that declares no kinds is left out."""
    if registry is None:
        from leaflint.rules.catalog import PROBE_KINDS

        declared = PROBE_KINDS
    else:
        declared = {code: getattr(cls, "probe_kinds", ()) for code, cls in registry.items()}
    return {code: set(kinds) for code, kinds in declared.items() if kinds}

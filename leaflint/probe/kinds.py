"""Which runtime event kinds can confirm or refute a finding of each code (no torch, no libcst).

The LL4 rules declare their own kinds (``probe_kinds`` on the rule class, leaflint/rules/saved.py);
the LL1-LL3 families are named here, in one place, so reconcile keeps no table of its own.
``kinds_by_code`` merges both sources: a rule that declares ``probe_kinds`` wins over this table.
"""

from __future__ import annotations

from leaflint.probe import schema

_INPLACE = (schema.INPLACE,)
_DATA_WRITE = (schema.DATA_SET, schema.DATA_INPLACE, schema.DATA_HARM)

# Event kinds written by the monitor for the LL1-LL3 families.
FAMILY_KINDS: dict[str, tuple[str, ...]] = {
    "LL101": _INPLACE, "LL102": _INPLACE, "LL103": _INPLACE, "LL104": _INPLACE,
    "LL105": _INPLACE, "LL106": _INPLACE,
    "LL201": _DATA_WRITE,
    "LL202": _DATA_WRITE,
    "LL203": (schema.DATA_GET, schema.DATA_FLOW, schema.DATA_CUT),
    "LL204": (schema.GRAD_CUT,),
    "LL301": (schema.PARAM_SET, schema.OPT_STEP),
    "LL302": (schema.MODULE_SET, schema.MODULE_BUILT),
    "LL303": (schema.PARAM_ASSIGN,),
    "LL304": (schema.OPT_STEP,),
}


def kinds_by_code(registry=None) -> dict[str, set[str]]:
    """Code -> event kinds, from the rule classes' ``probe_kinds`` and FAMILY_KINDS.

    ``registry`` defaults to leaflint.rules.REGISTRY; when libcst is missing (a torch-only
    environment) the registry can't load and FAMILY_KINDS alone stands.
    """
    if registry is None:
        try:
            from leaflint.rules import REGISTRY as registry
        except ImportError:  # expected without libcst: the rules need it, the probe does not
            registry = {}
    table = {code: set(kinds) for code, kinds in FAMILY_KINDS.items()}
    for code, cls in registry.items():
        kinds = getattr(cls, "probe_kinds", None)
        if kinds:
            table[code] = set(kinds)
    return table

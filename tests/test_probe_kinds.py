"""Every registered rule declares on its class the runtime event kinds that can confirm or
refute it, and reconcile's table is derived from those declarations (issue 15)."""

from leaflint.probe import reconcile, schema
from leaflint.probe.kinds import kinds_by_code
from leaflint.rules import REGISTRY
from leaflint.rules.catalog import PROBE_KINDS


def test_every_registered_rule_declares_probe_kinds():
    missing = sorted(code for code, cls in REGISTRY.items() if not cls.probe_kinds)
    assert not missing, f"rules with no probe kinds (declare probe_kinds on the rule class): {missing}"


def test_declared_kinds_are_event_kinds_of_the_schema():
    for code, cls in REGISTRY.items():
        unknown = set(cls.probe_kinds) - set(schema.KINDS)
        assert not unknown, f"{code} declares kinds no event has: {sorted(unknown)}"


def test_reconcile_uses_the_rule_declarations():
    assert reconcile.KINDS == kinds_by_code(REGISTRY)
    assert reconcile.KINDS == kinds_by_code() == {code: set(kinds) for code, kinds in PROBE_KINDS.items()}
    assert reconcile.KINDS["LL101"] == {schema.INPLACE}
    assert reconcile.KINDS["LL401"] == {schema.SAVED_WRITE}


def test_a_rule_without_kinds_is_left_out():
    class NoKinds:
        code = "LL999"
        probe_kinds = ()

    class Declared:
        probe_kinds = ("custom",)

    table = kinds_by_code({"LL999": NoKinds, "LL101": Declared})
    assert table == {"LL101": {"custom"}}


def test_rule_meta_names_a_rule_from_the_catalog():
    for code, cls in REGISTRY.items():
        assert reconcile.rule_meta(code) == (cls.name, cls.summary)
    assert reconcile.rule_meta("LL999") == ("ll999", "LL999")

"""Every registered rule names the runtime event kinds that can confirm or refute it (issue 15)."""

from leaflint.probe import reconcile
from leaflint.probe.kinds import FAMILY_KINDS, kinds_by_code
from leaflint.rules import REGISTRY


def test_every_registered_rule_has_probe_kinds():
    table = kinds_by_code()
    missing = sorted(code for code in REGISTRY if not table.get(code))
    assert not missing, f"rules with no probe kinds (add probe_kinds or a FAMILY_KINDS entry): {missing}"


def test_reconcile_uses_the_merged_table():
    assert reconcile.KINDS == kinds_by_code()
    assert reconcile.KINDS["LL401"] == {"saved_write"}  # declared on the rule class


def test_a_rule_without_kinds_is_reported():
    class NoKinds:
        code = "LL999"
    table = kinds_by_code({"LL999": NoKinds})
    assert "LL999" not in table
    assert set(FAMILY_KINDS) <= set(table)


def test_a_rule_declaration_overrides_the_family_table():
    class Declared:
        probe_kinds = ("custom",)
    assert kinds_by_code({"LL101": Declared})["LL101"] == {"custom"}

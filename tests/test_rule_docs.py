"""The README's rule table and leaflint/rules/catalog.py are generated from the rule classes
(tools/gen_rule_docs.py): this fails when either disagrees with the registry."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from leaflint.rules import CATALOG, REGISTRY
from leaflint.rules.catalog import PROBE_KINDS, SUMMARY

ROOT = Path(__file__).resolve().parent.parent


def _tool():
    spec = importlib.util.spec_from_file_location("gen_rule_docs", ROOT / "tools" / "gen_rule_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_rule_table_is_the_registry():
    tool = _tool()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert tool.readme_with_table(readme, tool.rules_table(REGISTRY)) == readme, \
        "README.md's rule table is stale: run python tools/gen_rule_docs.py"
    for code, cls in REGISTRY.items():  # the table names every rule, with its name and default
        assert f"| {code} | {cls.name} | {'on' if cls.default else 'opt-in'} |" in readme


def test_catalog_is_generated_from_the_registry():
    tool = _tool()
    assert (ROOT / "leaflint" / "rules" / "catalog.py").read_text(encoding="utf-8") == tool.catalog_source(REGISTRY), \
        "leaflint/rules/catalog.py is stale: run python tools/gen_rule_docs.py"
    assert CATALOG == {code: (cls.name, cls.default) for code, cls in REGISTRY.items()}
    assert PROBE_KINDS == {code: tuple(cls.probe_kinds) for code, cls in REGISTRY.items()}
    assert SUMMARY == {code: cls.summary for code, cls in REGISTRY.items()}


def test_check_mode_reports_a_stale_table(tmp_path, monkeypatch):
    tool = _tool()
    readme = tmp_path / "README.md"
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    readme.write_text(text.replace("| LL101 | inplace-method-on-leaf |", "| LL101 | renamed |"), encoding="utf-8")
    monkeypatch.setattr(tool, "README", readme)
    monkeypatch.setattr(tool, "REPO", tmp_path)
    monkeypatch.setattr(tool, "CATALOG", tmp_path / "catalog.py")
    (tmp_path / "catalog.py").write_text(tool.catalog_source(REGISTRY), encoding="utf-8")
    monkeypatch.setattr(tool, "_registry", lambda: REGISTRY)
    assert tool.main(["--check"]) == 1
    assert tool.main([]) == 0 and tool.main(["--check"]) == 0
    assert readme.read_text(encoding="utf-8") == text

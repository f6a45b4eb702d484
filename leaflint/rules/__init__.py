"""The rules, one module per family, and selection by code, prefix or ALL.

Selection works from ``CATALOG`` (each rule's code, name and whether it is on by default), so
that a run whose files all hit the cache never imports the rule modules (and libcst). The rule
classes are the one source: ``leaflint/rules/catalog.py`` is generated from them by
tools/gen_rule_docs.py (with the README's rule table), and tests/test_rule_docs.py fails when
either is stale. The rule classes (``REGISTRY``, ``Rule``, ``Report``) are imported on first use."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Optional

from leaflint.findings import DIAGNOSTIC_CODES, INTERNAL_ERROR, SYNTAX_ERROR, UNREADABLE
from leaflint.rules.catalog import CATALOG  # code -> (name, on by default), generated from the rule classes

if TYPE_CHECKING:
    from leaflint.rules.base import REGISTRY, Report, Rule  # noqa: F401

DEFAULT_CODES = tuple(sorted(code for code, (_, default) in CATALOG.items() if default))


def __getattr__(name: str):
    """``REGISTRY``, ``Rule`` and ``Report``: every module of this package imported on first use
    (each rule module registers its rules with ``@register``; a new module needs no entry here)."""
    if name in ("REGISTRY", "Rule", "Report"):
        import importlib
        import pkgutil

        from leaflint.rules import base

        for module in sorted(info.name for info in pkgutil.iter_modules(__path__)):
            importlib.import_module(f"{__name__}.{module}")
        return getattr(base, name)
    raise AttributeError(f"module 'leaflint.rules' has no attribute {name!r}")


class SelectionError(ValueError):
    pass


def _matches(code: str, selector: str) -> bool:
    return selector == "ALL" or code.startswith(selector)


def validate_selector(selector: str) -> str:
    selector = selector.strip().upper()
    if selector == "ALL":
        return selector
    if not selector.startswith("LL") or not any(code.startswith(selector) for code in CATALOG):
        raise SelectionError(f"unknown rule selector '{selector}' (rules: {', '.join(sorted(CATALOG))}, "
                             f"prefixes such as LL1, or ALL)")
    return selector


def lookup(query: str) -> list[str]:
    """The rule codes a user means by ``query``: a code, a prefix (``LL1``, ``ALL``) or a
    rule's name (``inplace-method-on-leaf``, any case, ``_`` for ``-``). [] if none."""
    name = query.strip().lower().replace("_", "-")
    by_name = [code for code, (rule_name, _) in CATALOG.items() if rule_name == name]
    if by_name:
        return by_name
    selector = query.strip().upper()
    return sorted(code for code in CATALOG if selector and _matches(code, selector))


def select_codes(select: Optional[Iterable[str]] = None, ignore: Iterable[str] = (),
                 extend_select: Iterable[str] = ()) -> tuple[str, ...]:
    """ruff semantics: ``select`` replaces the default set, ``extend_select`` adds, ``ignore`` removes.

    A more specific selector wins over a less specific one (``--select ALL --ignore LL2``
    drops LL2; ``--ignore LL2 --extend-select LL203`` keeps LL203).
    """
    chosen = [validate_selector(s) for s in select] if select is not None else None
    extra = [validate_selector(s) for s in extend_select]
    ignored = [validate_selector(s) for s in ignore]
    codes = []
    for code, (_, default) in sorted(CATALOG.items()):
        if chosen is None:
            on_spec = 0 if default else -1
        else:
            on_spec = max((_specificity(s) for s in chosen if _matches(code, s)), default=-1)
        on_spec = max([on_spec] + [_specificity(s) for s in extra if _matches(code, s)])
        off_spec = max((_specificity(s) for s in ignored if _matches(code, s)), default=-1)
        if on_spec >= 0 and on_spec > off_spec:
            codes.append(code)
    return tuple(codes)


def select_rules(select: Optional[Iterable[str]] = None, ignore: Iterable[str] = (),
                 extend_select: Iterable[str] = ()) -> list["Rule"]:
    """The rule instances of ``select_codes`` (imports the rule modules)."""
    registry = __getattr__("REGISTRY")
    return [registry[code]() for code in select_codes(select, ignore, extend_select)]


def _specificity(selector: str) -> int:
    return 0 if selector == "ALL" else len(selector)


__all__ = ["CATALOG", "DEFAULT_CODES", "REGISTRY", "Report", "Rule", "select_rules", "select_codes", "lookup",
           "SelectionError", "DIAGNOSTIC_CODES", "SYNTAX_ERROR", "UNREADABLE", "INTERNAL_ERROR",
           "validate_selector"]

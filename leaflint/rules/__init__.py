"""The rules, one module per family, and selection by code, prefix or ALL."""

from __future__ import annotations

from typing import Iterable, Optional

from leaflint.rules import data, forward, inplace  # noqa: F401  (registration)
from leaflint.rules import saved  # noqa: F401  (registration: LL4)
from leaflint.rules.base import REGISTRY, Report, Rule

# Diagnostics that are not rules: always on, cannot be deselected.
SYNTAX_ERROR = ("LL001", "syntax-error")
UNREADABLE = ("LL002", "unreadable-file")
INTERNAL_ERROR = ("LL003", "internal-error")
DIAGNOSTIC_CODES = {SYNTAX_ERROR[0], UNREADABLE[0], INTERNAL_ERROR[0]}


class SelectionError(ValueError):
    pass


def _matches(code: str, selector: str) -> bool:
    return selector == "ALL" or code.startswith(selector)


def validate_selector(selector: str) -> str:
    selector = selector.strip().upper()
    if selector == "ALL":
        return selector
    if not selector.startswith("LL") or not any(code.startswith(selector) for code in REGISTRY):
        raise SelectionError(f"unknown rule selector '{selector}' (rules: {', '.join(sorted(REGISTRY))}, "
                             f"prefixes such as LL1, or ALL)")
    return selector


def select_rules(select: Optional[Iterable[str]] = None, ignore: Iterable[str] = (),
                 extend_select: Iterable[str] = ()) -> list[Rule]:
    """ruff semantics: ``select`` replaces the default set, ``extend_select`` adds, ``ignore`` removes.

    A more specific selector wins over a less specific one (``--select ALL --ignore LL2``
    drops LL2; ``--ignore LL2 --extend-select LL203`` keeps LL203).
    """
    chosen = [validate_selector(s) for s in select] if select is not None else None
    extra = [validate_selector(s) for s in extend_select]
    ignored = [validate_selector(s) for s in ignore]
    rules = []
    for code, cls in sorted(REGISTRY.items()):
        if chosen is None:
            on_spec = 0 if cls.default else -1
        else:
            on_spec = max((_specificity(s) for s in chosen if _matches(code, s)), default=-1)
        on_spec = max([on_spec] + [_specificity(s) for s in extra if _matches(code, s)])
        off_spec = max((_specificity(s) for s in ignored if _matches(code, s)), default=-1)
        if on_spec >= 0 and on_spec > off_spec:
            rules.append(cls())
    return rules


def _specificity(selector: str) -> int:
    return 0 if selector == "ALL" else len(selector)


__all__ = ["REGISTRY", "Report", "Rule", "select_rules", "SelectionError", "DIAGNOSTIC_CODES",
           "SYNTAX_ERROR", "UNREADABLE", "INTERNAL_ERROR", "validate_selector"]

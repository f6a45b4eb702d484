"""The rule class and the registry.

A rule is one self-contained class (after Fixit): its code, kebab name, one-line summary,
docs in the shape what / why / example / use instead / references, and VALID and INVALID
examples that are both documentation and tests. All rules read one ``SemanticModel``, built
by a single traversal of the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, ClassVar, Iterable, Optional

import libcst as cst

from leaflint.findings import Applicability, Fix, short  # noqa: F401  (re-exported for the rules)
from leaflint.model import SemanticModel


@dataclass
class Report:
    """What a rule says about one node; the engine turns it into a ``Finding``."""

    node: cst.CSTNode
    message: str  # concise: what and why in a phrase (at most MAX_MESSAGE characters)
    fix: Optional[Fix] = None
    detail: Optional[str] = None  # the full explanation: torch's error text, the advice in context
    # a finding in another module of the project (``leaflint.model.project.Spot``): reported
    # there instead of at ``node`` (a write in a helper that this module's call passes a leaf)
    at: Optional[object] = None


@dataclass(frozen=True)
class Valid:
    """An example the rule must not report (documentation and test at once)."""

    code: str


@dataclass(frozen=True)
class Invalid:
    """An example the rule must report, with ``fixed``: the code after its fixes (unsafe ones
    included) are applied, or None when the rule offers no fix there. tests/test_rule_examples.py
    applies the fixes and compares (Fixit's way)."""

    code: str
    fixed: Optional[str] = None


# The concise message's budget (what and why, in a phrase), as in ruff's one-line output.
MAX_MESSAGE = 120


class Rule:
    code: ClassVar[str]
    name: ClassVar[str]
    summary: ClassVar[str]
    default: ClassVar[bool] = True
    docs: ClassVar[str]
    valid: ClassVar[list[Valid]] = []
    invalid: ClassVar[list[Invalid]] = []
    # The rule's fix: ``fix_builder(model, *subject)`` returns a ``Fix``, a ``LazyFix`` or None
    # (no fix at that place); ``check`` asks for it through ``self.fix(...)``, never by calling a
    # builder itself, so the registry knows every rule's fix. ``fix_applicability``: the
    # applicabilities the builder attaches. Neither (None, ()): the rule offers no fix. Both are checked
    # against each other and against the fixes of the rule's examples (tests/test_rule_examples.py).
    fix_builder: ClassVar[Optional[Callable[..., object]]] = None
    fix_applicability: ClassVar[tuple[Applicability, ...]] = ()
    # The runtime event kinds (``leaflint.probe.schema``) that confirm or refute a finding of this
    # rule; reconcile reads them (through the generated leaflint/rules/catalog.py). Empty: the
    # probe would skip the rule, and tests/test_probe_kinds.py fails.
    probe_kinds: ClassVar[tuple[str, ...]] = ()

    def check(self, model: SemanticModel) -> Iterable[Report]:
        raise NotImplementedError

    def fix(self, model: SemanticModel, *subject) -> Optional[object]:
        """The declared ``fix_builder`` applied to ``subject`` (None when the rule has none)."""
        builder = type(self).fix_builder
        return None if builder is None else builder(model, *subject)

    @classmethod
    def document(cls) -> str:
        default = "on by default" if cls.default else "opt-in: select it with --select " + cls.code
        return f"# {cls.code} {cls.name} ({default})\n\n{cls.summary}\n\n{cls.docs.strip()}\n"


def deferred(module: str, name: str) -> Callable[..., object]:
    """``module.name``, imported on its first call: a rule's ``fix_builder`` (the fix builders
    and what they import are needed only where a rule reports, so a run without findings never
    imports them; about a tenth of a one-file run's own time)."""
    found: list = []

    def call(*args, **kwargs):
        if not found:
            import importlib

            found.append(getattr(importlib.import_module(module), name))
        return found[0](*args, **kwargs)

    call.__qualname__ = call.__name__ = name
    call.__module__ = module
    return call


REGISTRY: dict[str, type[Rule]] = {}


def register(cls: type[Rule]) -> type[Rule]:
    if cls.code in REGISTRY:
        raise ValueError(f"duplicate rule code {cls.code}")
    REGISTRY[cls.code] = cls
    return cls

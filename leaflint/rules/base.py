"""The rule class and the registry.

A rule is one self-contained class (after Fixit): its code, kebab name, one-line summary,
docs in the shape what / why / example / use instead / references, and VALID and INVALID
examples that are both documentation and tests. All rules read one ``SemanticModel``, built
by a single traversal of the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Iterable, Optional

import libcst as cst

from leaflint.findings import Fix
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


# The concise message's budget (what and why, in a phrase), as in ruff's one-line output.
MAX_MESSAGE = 120


def short(text: str, width: int = 32) -> str:
    """Source text for a concise message: one line, at most ``width`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width - 1] + "\u2026"


class Rule:
    code: ClassVar[str]
    name: ClassVar[str]
    summary: ClassVar[str]
    default: ClassVar[bool] = True
    docs: ClassVar[str]
    valid: ClassVar[list[str]] = []
    invalid: ClassVar[list[str]] = []

    def check(self, model: SemanticModel) -> Iterable[Report]:
        raise NotImplementedError

    @classmethod
    def document(cls) -> str:
        default = "on by default" if cls.default else "opt-in: select it with --select " + cls.code
        return f"# {cls.code} {cls.name} ({default})\n\n{cls.summary}\n\n{cls.docs.strip()}\n"


REGISTRY: dict[str, type[Rule]] = {}


def register(cls: type[Rule]) -> type[Rule]:
    if cls.code in REGISTRY:
        raise ValueError(f"duplicate rule code {cls.code}")
    REGISTRY[cls.code] = cls
    return cls

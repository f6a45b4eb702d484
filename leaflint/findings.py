"""The finding: what every rule produces and every reporter consumes."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Optional

# Diagnostics that are not rules: always on, cannot be deselected. (Here, not in leaflint.rules,
# so that reporting them never imports libcst.)
SYNTAX_ERROR = ("LL001", "syntax-error")
UNREADABLE = ("LL002", "unreadable-file")
INTERNAL_ERROR = ("LL003", "internal-error")
DIAGNOSTIC_CODES = {SYNTAX_ERROR[0], UNREADABLE[0], INTERNAL_ERROR[0]}


def short(text: str, width: int = 32) -> str:
    """Source text for a concise message: one line, at most ``width`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width - 1] + "\u2026"


@dataclass(frozen=True, order=True)
class Position:
    """A 1-based row and a 1-based column (in characters)."""

    row: int
    column: int


@dataclass
class Edit:
    """Replace the text between two positions (end exclusive) with ``content``."""

    start: Position
    end: Position
    content: str


class Applicability(str, Enum):
    """How sure a fix is to keep the program's meaning (ruff's applicability): ``safe`` fixes
    apply with ``--fix``, ``unsafe`` ones need ``--unsafe-fixes``. A ``str`` so that JSON, SARIF,
    the cache and comparisons with ``"safe"`` see the plain string (on Python 3.10 too)."""

    SAFE = "safe"
    UNSAFE = "unsafe"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


@dataclass
class Fix:
    """A change that removes a finding, ``safe`` or ``unsafe`` (``Applicability``)."""

    message: str
    applicability: Applicability
    edits: list[Edit] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.applicability = Applicability(self.applicability)  # a plain string (the cache's JSON) too


@dataclass
class Finding:
    code: str
    name: str
    message: str
    filename: str
    location: Position
    end_location: Position
    fix: Optional[Fix] = None
    # Notebook cell (1-based) when the file is a notebook; rows are then cell-relative.
    cell: Optional[int] = None
    # The full explanation (torch's error text, the advice in context) behind the concise
    # ``message``: shown by ``--output-format full`` and carried by JSON.
    detail: Optional[str] = None

    def sort_key(self) -> tuple:
        return (self.filename, self.cell or 0, self.location.row, self.location.column, self.code)

    def to_dict(self) -> dict:
        fix = None
        if self.fix is not None:
            fix = {
                "message": self.fix.message,
                "applicability": self.fix.applicability,
                "edits": [
                    {
                        "content": e.content,
                        "location": {"row": e.start.row, "column": e.start.column},
                        "end_location": {"row": e.end.row, "column": e.end.column},
                    }
                    for e in self.fix.edits
                ],
            }
        data = {
            "code": self.code,
            "name": self.name,
            "message": self.message,
            "filename": self.filename,
            "location": {"row": self.location.row, "column": self.location.column},
            "end_location": {"row": self.end_location.row, "column": self.end_location.column},
            "fix": fix,
        }
        if self.cell is not None:
            data["cell"] = self.cell
        if self.detail is not None:
            data["detail"] = self.detail
        return data

    @classmethod
    def from_dict(cls, data: dict, filename: Optional[str] = None) -> "Finding":
        """The inverse of ``to_dict``; ``filename`` (when given) replaces the stored one."""
        fix = None
        raw_fix = data.get("fix")
        if raw_fix is not None:
            fix = Fix(
                raw_fix["message"],
                raw_fix["applicability"],
                [Edit(Position(e["location"]["row"], e["location"]["column"]),
                      Position(e["end_location"]["row"], e["end_location"]["column"]), e["content"])
                 for e in raw_fix["edits"]],
            )
        return cls(
            code=data["code"],
            name=data["name"],
            message=data["message"],
            filename=filename if filename is not None else data["filename"],
            location=Position(data["location"]["row"], data["location"]["column"]),
            end_location=Position(data["end_location"]["row"], data["end_location"]["column"]),
            fix=fix,
            cell=data.get("cell"),
            detail=data.get("detail"),
        )

"""The generated saved-tensor table (``leaflint/data/saved_tensors.json``), read without torch.

``tools/gen_saved_table.py`` writes it from torchgen's ``derivatives.yaml``: which inputs and
outputs each op saves for backward, and under which requires-grad condition (``x * w`` saves
``x`` only when ``w`` requires grad).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

TABLE_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data",
                          "saved_tensors.json")


@dataclass(frozen=True)
class Overload:
    args: tuple[str, ...]          # tensor arguments, schema order
    positional: tuple[str, ...]    # every positional argument, schema order
    saves_inputs: dict             # arg -> None (always) or tuple of args (when any requires grad)
    saves_output: bool


class SavedTable:
    """The generated table: ops, composite Python functions, operators, torch.nn modules."""

    def __init__(self, data: dict) -> None:
        self.torch_version = data.get("torch_version", "?")
        self.composites = data.get("composites", {})
        self.operators = data.get("operators", {})
        self.modules = data.get("modules", {})
        self._ops = data.get("ops", {})

    def has_method(self, name: str) -> bool:
        entry = self._ops.get(name)
        return entry is not None and entry.get("method", False)

    def overloads(self, name: str) -> list[tuple[str, Overload]]:
        entry = self._ops.get(name)
        if entry is None:
            return []
        found = []
        for overload, raw in entry["overloads"].items():
            saves = {k: (None if v is None else tuple(v)) for k, v in raw["saves_inputs"].items()}
            found.append((overload, Overload(tuple(raw["args"]), tuple(raw["positional"]), saves,
                                             bool(raw["saves_output"]))))
        # the all-tensor overloads first: `x * w` is mul.Tensor
        found.sort(key=lambda item: (item[0] not in ("", "Tensor"), item[0]))
        return found

    def resolve(self, name: str, tensor_flags: list[Optional[bool]],
                keywords: frozenset | set = frozenset()) -> Optional[tuple[str, Overload]]:
        """The overload that fits which positional arguments are tensors (None: unknown), how many
        there are, and the keywords given (``torch.max(x, dim=1)`` is ``max.dim``, which saves only
        the indices, not ``max``, which saves ``self``)."""
        if name in self.composites:
            return None
        found = self.overloads(name)
        schema_words = {word for _, o in found for word in o.positional}
        for overload_name, overload in found:
            if len(tensor_flags) > len(overload.positional) and len(found) > 1:
                continue
            if any(k in schema_words and k not in overload.positional for k in keywords):
                continue
            ok = True
            for i, flag in enumerate(tensor_flags):
                if i >= len(overload.positional):
                    break
                if flag is not None and (overload.positional[i] in overload.args) != flag:
                    ok = False
                    break
            if ok:
                return overload_name, overload
        return None

    def saves_output(self, name: str) -> bool:
        return any(o.saves_output for _, o in self.overloads(name))


@lru_cache(maxsize=1)
def load_table(path: str = TABLE_PATH) -> SavedTable:
    with open(path, encoding="utf-8") as f:
        return SavedTable(json.load(f))

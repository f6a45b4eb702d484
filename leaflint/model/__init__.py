"""The semantic model shared by every rule: grad-mode regions, leaf bindings, modules.

``build_model(module)`` walks a libcst ``Module`` once and returns a ``SemanticModel``
whose facts (in-place sites, ``.data`` writes and reads, attribute assignments) the
rules filter. Every question the model cannot answer for sure is answered "no".

``leaflint.model.torchapi`` (plain data about torch) is imported by the probe too, so this
package loads libcst only when the model itself is asked for.
"""

from typing import Any

__all__ = ["SemanticModel", "build_model"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from leaflint.model import semantic

        return getattr(semantic, name)
    raise AttributeError(name)

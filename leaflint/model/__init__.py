"""The semantic model shared by every rule: grad-mode regions, leaf bindings, modules.

``build_model(module)`` walks a libcst ``Module`` once and returns a ``SemanticModel``
whose facts (in-place sites, ``.data`` writes and reads, attribute assignments) the
rules filter. Every question the model cannot answer for sure is answered "no".
"""

from leaflint.model.semantic import SemanticModel, build_model

__all__ = ["SemanticModel", "build_model"]

"""Random values drawn inside forward, followed through the ops they feed (imports torch).

The static LL201 reports random noise written into a parameter through ``.data`` in forward
(``self.weight.data.add_(torch.randn_like(self.weight) * s)``): the noise of every call stays in
the weights. At run time a tensor drawn by a random function (or filled in place by one) while a
forward runs is remembered, and so is every tensor an op computes from one; a ``.data`` write in
forward whose operand is such a tensor is that finding's condition (``data_writes``).
"""

from __future__ import annotations

import torch
from torch.utils.weak import WeakIdKeyDictionary

from leaflint.probe import state
from leaflint.probe.describe import tensors_in

__tracebackhide__ = True

# Functions whose result is drawn at random, and in-place methods that fill their receiver so.
# (Kept in step with the static list, leaflint.model.judge.RANDOM_CALLS.)
RANDOM_FUNCTIONS = frozenset({"rand", "randn", "randint", "rand_like", "randn_like", "randint_like", "normal",
                              "bernoulli", "multinomial", "poisson", "randperm"})
RANDOM_INPLACE = frozenset({"normal_", "uniform_", "bernoulli_", "exponential_", "geometric_", "cauchy_",
                            "log_normal_", "random_"})

_drawn = WeakIdKeyDictionary()  # tensor -> True: drawn at random inside a forward, or computed from one
_active = [False]


def _mark(result) -> None:
    for out in (result if isinstance(result, (list, tuple)) else (result,)):
        if isinstance(out, torch.Tensor):
            _drawn[out] = True
            _active[0] = True


def drew(result) -> None:
    """A random function (or in-place fill) returned ``result``: remember it while a forward runs."""
    st = state.STATE
    try:
        if st is not None and st.fwd_stack():
            _mark(result)
    except Exception as exc:  # never break the program, but tell
        state.failed("following random values", exc)


def active() -> bool:
    return _active[0]


def follow(args, kwargs, result) -> None:
    """An op computed ``result`` from a remembered random tensor: remember the result too."""
    try:
        if not _drawn:
            _active[0] = False
            return
        if any(t in _drawn for t in tensors_in(args)) or (kwargs and any(t in _drawn for t in tensors_in(kwargs.values()))):
            _mark(result)
    except Exception as exc:
        state.failed("following random values", exc)


def carries_noise(args, kwargs) -> bool:
    """Whether an in-place op's operands (not its receiver) include a remembered random tensor."""
    if not _drawn:
        return False
    return any(t in _drawn for t in tensors_in(args[1:])) or bool(
        kwargs and any(t in _drawn for t in tensors_in(kwargs.values())))

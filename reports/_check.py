"""Shared helpers for the reconstructed bug reports (reports/<family>/<slug>_{bad,fixed}.py).

A *bad* program shows its bug at run time and prints exactly one line starting ``bug-shown:``;
a *fixed* program runs with gradients flowing and prints exactly one line starting ``clean:``.
Either kind exits non-zero (an AssertionError) when it does not behave as claimed, so a
reconstruction that stops reproducing its report is caught (tests/test_reports.py, bench/reports.py).
"""

from __future__ import annotations

import torch

__all__ = ["bug_raises", "bug_silent", "clean", "changed", "grads_flow"]


def bug_raises(text, fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` must raise an exception whose message contains ``text``."""
    try:
        fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - the reports raise RuntimeError or TypeError
        message = str(exc)
        if text not in message:
            raise AssertionError(f"raised {type(exc).__name__}: {message!r}; expected {text!r}") from exc
        first = message.strip().splitlines()[0] if message.strip() else ""
        print(f"bug-shown: {type(exc).__name__}: {first}", flush=True)
        return exc
    raise AssertionError(f"did not raise (expected {text!r})")


def bug_silent(claim, condition):
    """The silent bug happened: ``condition`` is true."""
    if not condition:
        raise AssertionError(f"expected the silent bug to show, but it did not: {claim}")
    print(f"bug-shown: {claim}", flush=True)


def clean(claim, condition=True):
    """The fixed program behaved: ``condition`` is true."""
    if not condition:
        raise AssertionError(f"the fixed program misbehaved: {claim}")
    print(f"clean: {claim}", flush=True)


def changed(before, after):
    """True when two tensors differ anywhere."""
    return not torch.equal(before, after)


def grads_flow(params):
    """True when every tensor in ``params`` has a finite, non-zero gradient."""
    params = list(params)
    return bool(params) and all(
        p.grad is not None and bool(torch.isfinite(p.grad).all()) and bool(p.grad.abs().sum() > 0) for p in params
    )

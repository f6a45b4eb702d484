"""LL1 fixes (LL101-LL106): ``nn.init`` for an init method called on a parameter, the
out-of-place form of an ``inplace=True`` functional whose result is used, else the statement
wrapped in ``with torch.no_grad():`` (safe in ``__init__``, at module level and after a
``backward()`` earlier in the same function; unsafe elsewhere)."""

from __future__ import annotations

from typing import Optional

import libcst as cst

from leaflint.findings import Applicability, Edit, Fix
from leaflint.fix.context import FixContext, LazyFix
from leaflint.fix.nodes import in_deferred_scope, path_to, single_statement
from leaflint.fix.wrap import no_grad_fix
from leaflint.model.torchapi import NN_INIT


def build_inplace_fix(model, site, leaf=None) -> Optional[LazyFix]:
    """LL101-LL106: ``nn.init`` / out-of-place form / ``with torch.no_grad():``."""
    stmt = site.ctx.stmt
    if not single_statement(stmt):
        return None
    path = path_to(stmt, site.node)
    if path is None or in_deferred_scope(path):
        return None
    whole = isinstance(stmt.body[0], cst.Expr) and stmt.body[0].value is site.node
    if site.kind == "inplace_fn" and not whole:
        return _out_of_place_fix(model, site)
    if site.kind == "method" and whole and site.detail in NN_INIT and leaf is not None \
            and leaf.kind == "parameter" and not leaf.view:
        fix = _nn_init_fix(model, site)
        if fix is not None:
            return fix
    return no_grad_fix(model, site.ctx, stmt, "Wrap the statement in `with torch.no_grad():`")


def _nn_init_fix(model, site) -> Optional[LazyFix]:
    call = site.node
    if not isinstance(call, cst.Call) or not isinstance(call.func, cst.Attribute):
        return None
    function, renames, max_positional = NN_INIT[site.detail]
    positional = 0
    args: list[cst.Arg] = []
    for arg in call.args:
        if arg.star:
            return None
        if arg.keyword is None:
            positional += 1
            if positional > max_positional:
                return None
            args.append(arg)
        else:
            new = renames.get(arg.keyword.value)
            if new is None:
                return None
            args.append(arg.with_changes(keyword=cst.Name(new)) if new != arg.keyword.value else arg)
    target = call.func.value
    in_forward = model.in_forward(site.ctx)

    def make(context: FixContext) -> Optional[Fix]:
        nn, imports = context.nn_name()
        if nn is None:
            return None
        name = f"{nn}.init.{function}"
        first = cst.Arg(target, comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")) if args else cst.MaybeSentinel.DEFAULT)
        new = cst.Call(func=cst.parse_expression(name), args=[first] + args)
        edit = Edit(context.start(call), context.end(call), context.code(new))
        return Fix(f"Use `{name}(...)`, which runs under no_grad", Applicability.UNSAFE if in_forward else Applicability.SAFE, [edit] + imports)

    return LazyFix(make)


def _without_inplace(call: cst.Call) -> Optional[cst.Call]:
    args = list(call.args)
    for index, arg in enumerate(args):
        if arg.keyword is not None and arg.keyword.value == "inplace":
            if not (isinstance(arg.value, cst.Name) and arg.value.value == "True"):
                return None
            del args[index]
            if args and index == len(args):
                args[-1] = args[-1].with_changes(comma=arg.comma)
            return call.with_changes(args=args)
    return None


def _out_of_place_fix(model, site) -> Optional[LazyFix]:
    """``F.dropout(w, p, inplace=True)`` whose result is used -> ``F.dropout(w, p)``."""
    call = site.node
    if not isinstance(call, cst.Call):
        return None
    new = _without_inplace(call)
    what = "drop `inplace=True`"
    if new is None and isinstance(call.func, cst.Call):
        inner = _without_inplace(call.func)
        if inner is not None:
            new = call.with_changes(func=inner)
    if new is None and isinstance(call.func, cst.Attribute) and call.func.attr.value.endswith("_") \
            and not call.func.attr.value.endswith("__"):
        plain = call.func.attr.value[:-1]
        new = call.with_changes(func=call.func.with_changes(attr=cst.Name(plain)))
        what = f"call `{plain}` instead of `{call.func.attr.value}`"
    if new is None:
        return None
    new = new.with_changes(lpar=[], rpar=[])

    def make(context: FixContext) -> Optional[Fix]:
        edit = Edit(context.start(call), context.end(call), context.code(new))
        return Fix(f"Use the out-of-place form ({what}): the leaf is no longer overwritten", Applicability.UNSAFE, [edit])

    return LazyFix(make)

"""Messages and fixes that are right where they are given (LL201-LL203, LL301, loop fixes),
and the `.data` clip in a loop over a module's parameters between a forward and its backward."""

from __future__ import annotations

import textwrap

from leaflint import fix as fixes
from leaflint.engine import lint_source
from leaflint.rules import select_rules


def lint(source: str, select=("ALL",)):
    return lint_source(textwrap.dedent(source), "m.py", select_rules(list(select)))


def fixed(source: str, select=("ALL",)) -> str:
    rules = select_rules(list(select))
    return fixes.fix_text(textwrap.dedent(source), lambda text: lint_source(text, "m.py", rules), True).text


TRAIN = """\
    import torch
    import torch.nn.functional as F


    def step(w, opt, x, y):
        loss = F.mse_loss(x @ w, y) + (w * w).sum()
        w.data.clamp_(-1, 1)
        loss.backward()
        opt.step()
        return loss
"""


# ------------------------------------------------------------------------------------- item 4
def test_ll201_between_forward_and_backward_advises_moving_the_write():
    [finding] = lint(TRAIN, ["LL201"])
    assert "copy_" not in finding.message + finding.detail
    assert "move the write after `loss.backward()` and `opt.step()`" in finding.detail
    assert finding.fix is not None and finding.fix.applicability == "unsafe"


def test_ll201_move_fix_puts_the_write_after_backward_and_step():
    after = fixed(TRAIN, ["LL201"])
    assert after.splitlines()[5:10] == [
        "    loss = F.mse_loss(x @ w, y) + (w * w).sum()",
        "    loss.backward()",
        "    opt.step()",
        "    w.data.clamp_(-1, 1)",
        "    return loss"]
    assert lint(after, ["LL201"]) == []


def test_ll201_no_move_when_a_statement_in_between_reads_the_tensor():
    source = TRAIN.replace("        loss.backward()\n", "        extra = (w ** 3).sum()\n        (loss + extra).backward()\n")
    [finding] = lint(source, ["LL201"])
    assert finding.fix is None
    assert "move the write after the `backward()` call" in finding.detail


def test_ll201_no_move_when_backward_is_in_another_block():
    source = TRAIN.replace("        loss.backward()\n", "        if True:\n            loss.backward()\n")
    [finding] = lint(source, ["LL201"])
    assert finding.fix is None


# ------------------------------------------------------------------------------------- item 8
def test_clip_in_a_loop_over_parameters_before_backward():
    source = """\
        import torch


        def critic_step(D, opt, real, fake, c):
            loss = D(fake).mean() - D(real).mean()
            for p in D.parameters():
                p.data.clamp_(-c, c)
            loss.backward()
            opt.step()
            for p in D.parameters():
                p.data.clamp_(-c, c)
    """
    found = lint(source, ["LL201"])
    assert [(f.code, f.location.row) for f in found] == [("LL201", 7)]  # not the clip after step()
    after = fixed(source, ["LL201"])
    assert after.splitlines()[4:9] == [
        "    loss = D(fake).mean() - D(real).mean()",
        "    loss.backward()",
        "    opt.step()",
        "    for p in D.parameters():",
        "        p.data.clamp_(-c, c)"]


# ------------------------------------------------------------------------------------- item 5
def test_ll202_advice_for_in_place_initialisers():
    source = """\
        import torch
        from torch import nn

        w = nn.Parameter(torch.empty(3))
        w.data.normal_(0, 0.02)
        w.data.zero_()
        w.data = w.data * 2
    """
    normal, zero, assign = lint(source, ["LL202"])
    assert "call `w.normal_(...)` itself under `with torch.no_grad():`, or `nn.init.normal_(w, ...)`" in normal.detail
    assert "copy_" not in normal.detail
    assert "`w.zero_(...)`" in zero.detail and "nn.init.zeros_" in zero.detail
    assert "w.copy_(value)" in assign.detail


# ------------------------------------------------------------------------------------- item 6
def test_no_grad_fix_wraps_a_loop_of_writes():
    source = """\
        import torch


        def sgd(model, lr):
            for p in model.parameters():
                p -= lr * p.grad
                p.grad.zero_()


        def mixed(model, lr, log):
            for p in model.parameters():
                p -= lr * p.grad
                log.append(p.norm())
    """
    after = fixed(source, ["LL1"])
    assert after.splitlines()[3:18] == [
        "def sgd(model, lr):",
        "    with torch.no_grad():",
        "        for p in model.parameters():",
        "            p -= lr * p.grad",
        "            p.grad.zero_()",
        "",
        "",
        "def mixed(model, lr, log):",
        "    for p in model.parameters():",
        "        with torch.no_grad():",
        "            p -= lr * p.grad",
        "        log.append(p.norm())"][:15]


# ------------------------------------------------------------------------------------- item 7
def test_ll301_names_what_is_assigned():
    source = """\
        import torch
        from torch import nn


        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.scale = nn.Parameter(torch.ones(3))
                self.state = torch.zeros(3)

            def forward(self, x):
                self.state = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
                self.scale = torch.ones(3, requires_grad=True)
                return x * self.scale * self.state


        class P(nn.Module):
            def __init__(self):
                super().__init__()
                self.scale = nn.Parameter(torch.ones(3))

            def forward(self, x):
                self.scale = nn.Parameter(self.scale * 2)
                return x * self.scale
    """
    state, scale, param = lint(source, ["LL301"])
    assert "nn.Parameter" not in state.message and "new leaf tensor" in state.message
    assert "torch.tensor(..., requires_grad=True)" in state.detail
    assert "TypeError" in scale.message
    assert "new nn.Parameter" in param.message


# ------------------------------------------------------------------------------------- item 3
def test_ll203_not_reported_for_writes_and_write_backs():
    source = """\
        import torch
        from torch import nn


        def quantize(w):
            return w.round(), w.abs().max()


        class Q(nn.Module):
            def __init__(self):
                super().__init__()
                self.weight = nn.Parameter(torch.randn(4, 4))

            def forward(self, x):
                self.weight.data, scale = quantize(self.weight.detach())
                self.weight.data = torch.renorm(self.weight.data, 2, 0, 1.0)
                self.weight.data = self.weight.data.half().float()
                y = x @ self.weight.data
                return y * scale
    """
    found = lint(source, ["LL203"])
    assert [f.location.row for f in found] == [18]

"""MAML's Meta.forward computes the step-1 query loss with grad on, so update_step=1 trains the meta parameters.

Source: https://github.com/dragen1860/MAML-Pytorch/issues/40
Fix: take the step-1 query loss out of `torch.no_grad()` (only the accuracy bookkeeping stays under no_grad), as the
thread's diagnosis implies: the meta loss must come from a query loss computed with grad on
Batch: holdout-5
"""

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import optim

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import changed, clean  # noqa: E402


class Learner(nn.Module):
    def __init__(self, d_in, hidden, n_way):
        super().__init__()
        self.vars = nn.ParameterList([
            nn.Parameter(torch.randn(hidden, d_in) * 0.1), nn.Parameter(torch.zeros(hidden)),
            nn.Parameter(torch.randn(n_way, hidden) * 0.1), nn.Parameter(torch.zeros(n_way)),
        ])

    def forward(self, x, vars=None, bn_training=True):
        if vars is None:
            vars = self.vars
        w1, b1, w2, b2 = vars
        return F.linear(F.relu(F.linear(x, w1, b1)), w2, b2)

    def parameters(self, recurse=True):
        return self.vars


class Meta(nn.Module):
    def __init__(self, args):
        super().__init__()
        self.update_lr = args["update_lr"]
        self.meta_lr = args["meta_lr"]
        self.update_step = args["update_step"]
        self.net = Learner(args["d_in"], 16, args["n_way"])
        self.meta_optim = optim.Adam(self.net.parameters(), lr=self.meta_lr)

    def forward(self, x_spt, y_spt, x_qry, y_qry):
        task_num = x_spt.size(0)
        querysz = x_qry.size(1)
        losses_q = [0 for _ in range(self.update_step + 1)]  # losses_q[i], i is tasks idx
        corrects = [0 for _ in range(self.update_step + 1)]

        for i in range(task_num):
            # 1. run the i-th task and compute loss for k=0
            logits = self.net(x_spt[i], vars=None, bn_training=True)
            loss = F.cross_entropy(logits, y_spt[i])
            grad = torch.autograd.grad(loss, self.net.parameters())
            fast_weights = list(map(lambda p: p[1] - self.update_lr * p[0], zip(grad, self.net.parameters())))

            # this is the loss and accuracy before first update
            with torch.no_grad():
                logits_q = self.net(x_qry[i], self.net.parameters(), bn_training=True)
                loss_q = F.cross_entropy(logits_q, y_qry[i])
                losses_q[0] += loss_q
                pred_q = F.softmax(logits_q, dim=1).argmax(dim=1)
                corrects[0] = corrects[0] + torch.eq(pred_q, y_qry[i]).sum().item()

            # this is the loss and accuracy after the first update
            logits_q = self.net(x_qry[i], fast_weights, bn_training=True)
            loss_q = F.cross_entropy(logits_q, y_qry[i])
            losses_q[1] += loss_q
            with torch.no_grad():
                pred_q = F.softmax(logits_q, dim=1).argmax(dim=1)
                corrects[1] = corrects[1] + torch.eq(pred_q, y_qry[i]).sum().item()

            for k in range(1, self.update_step):
                logits = self.net(x_spt[i], fast_weights, bn_training=True)
                loss = F.cross_entropy(logits, y_spt[i])
                grad = torch.autograd.grad(loss, fast_weights)
                fast_weights = list(map(lambda p: p[1] - self.update_lr * p[0], zip(grad, fast_weights)))
                logits_q = self.net(x_qry[i], fast_weights, bn_training=True)
                loss_q = F.cross_entropy(logits_q, y_qry[i])
                losses_q[k + 1] += loss_q
                with torch.no_grad():
                    pred_q = F.softmax(logits_q, dim=1).argmax(dim=1)
                    corrects[k + 1] = corrects[k + 1] + torch.eq(pred_q, y_qry[i]).sum().item()

        # end of all tasks: sum over all losses on query set across all tasks
        loss_q = losses_q[-1] / task_num

        # optimize theta parameters
        self.meta_optim.zero_grad()
        loss_q.backward()
        self.meta_optim.step()
        return [c / (querysz * task_num) for c in corrects]


if __name__ == "__main__":
    torch.manual_seed(0)
    args = {"update_lr": 0.4, "meta_lr": 1e-3, "update_step": 1, "d_in": 10, "n_way": 5}
    maml = Meta(args)
    before = [p.detach().clone() for p in maml.net.parameters()]
    x_spt, y_spt = torch.randn(2, 5, 10), torch.randint(0, 5, (2, 5))
    x_qry, y_qry = torch.randn(2, 15, 10), torch.randint(0, 5, (2, 15))
    maml(x_spt, y_spt, x_qry, y_qry)
    clean("the meta update moves the learner's parameters",
          all(changed(b, p.detach()) for b, p in zip(before, maml.net.parameters())))

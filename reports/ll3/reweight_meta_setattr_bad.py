"""Learning-to-reweight's virtual update writes updated weights back with setattr into a plain nn.Conv1d.

Source: https://github.com/danieltan07/learning-to-reweight-examples/issues/21
Shape: recursive `set_param` helper walking named_children; `setattr(curr_mod, name, param)` with a tensor
"""

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import bug_raises  # noqa: E402


class LeNet1d(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(1, 4, 5)
        self.fc = nn.Linear(4 * 12, 10)

    def forward(self, x):
        return self.fc(F.relu(self.conv(x)).flatten(1))

    def set_param(self, curr_mod, name, param):
        if "." in name:
            n = name.split(".")
            module_name, rest = n[0], ".".join(n[1:])
            for child_name, mod in curr_mod.named_children():
                if module_name == child_name:
                    self.set_param(mod, rest, param)
                    break
        else:
            setattr(curr_mod, name, param)  # expect: LL303

    def update_params(self, lr_inner, source_params):
        for (name, param), grad in zip(list(self.named_parameters()), source_params):
            self.set_param(self, name, param - lr_inner * grad)


def train_lre(meta_net, data, labels):
    y_f_hat = meta_net(data)
    cost = F.cross_entropy(y_f_hat, labels, reduction="none")
    eps = torch.zeros(cost.size(), requires_grad=True)
    l_f_meta = torch.sum(cost * eps)
    grads = torch.autograd.grad(l_f_meta, meta_net.parameters(), create_graph=True)
    meta_net.update_params(0.001, source_params=grads)


if __name__ == "__main__":
    bug_raises("cannot assign", train_lre, LeNet1d(), torch.randn(3, 1, 16), torch.randint(0, 10, (3,)))

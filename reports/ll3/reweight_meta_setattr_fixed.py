"""Learning-to-reweight with meta layers: weights live as buffers, so the virtual update may assign tensors.

Source: https://github.com/danieltan07/learning-to-reweight-examples/issues/21
Fix: build the network from the repository's MetaModule layers (MetaConv1d/MetaLinear register their weights as
buffers that require grad), as the repository's own MetaModule does
"""

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import clean  # noqa: E402


class MetaConv1d(nn.Module):
    def __init__(self, *args, **kwargs):
        super().__init__()
        ignore = nn.Conv1d(*args, **kwargs)
        self.register_buffer("weight", ignore.weight.data.clone().requires_grad_())
        self.register_buffer("bias", ignore.bias.data.clone().requires_grad_())

    def forward(self, x):
        return F.conv1d(x, self.weight, self.bias)


class MetaLinear(nn.Module):
    def __init__(self, *args, **kwargs):
        super().__init__()
        ignore = nn.Linear(*args, **kwargs)
        self.register_buffer("weight", ignore.weight.data.clone().requires_grad_())
        self.register_buffer("bias", ignore.bias.data.clone().requires_grad_())

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)


class LeNet1d(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = MetaConv1d(1, 4, 5)
        self.fc = MetaLinear(4 * 12, 10)

    def forward(self, x):
        return self.fc(F.relu(self.conv(x)).flatten(1))

    def params(self):
        return [self.conv.weight, self.conv.bias, self.fc.weight, self.fc.bias]

    def named_params(self):
        return [("conv.weight", self.conv.weight), ("conv.bias", self.conv.bias), ("fc.weight", self.fc.weight), ("fc.bias", self.fc.bias)]

    def set_param(self, curr_mod, name, param):
        if "." in name:
            n = name.split(".")
            module_name, rest = n[0], ".".join(n[1:])
            for child_name, mod in curr_mod.named_children():
                if module_name == child_name:
                    self.set_param(mod, rest, param)
                    break
        else:
            setattr(curr_mod, name, param)

    def update_params(self, lr_inner, source_params):
        for (name, param), grad in zip(self.named_params(), source_params):
            self.set_param(self, name, param - lr_inner * grad)


def train_lre(meta_net, data, labels):
    y_f_hat = meta_net(data)
    cost = F.cross_entropy(y_f_hat, labels, reduction="none")
    eps = torch.zeros(cost.size(), requires_grad=True)
    l_f_meta = torch.sum(cost * eps)
    grads = torch.autograd.grad(l_f_meta, meta_net.params(), create_graph=True)
    meta_net.update_params(0.001, source_params=grads)
    l_g_meta = F.cross_entropy(meta_net(data), labels)
    grad_eps = torch.autograd.grad(l_g_meta, eps, allow_unused=True)[0]
    return grad_eps


if __name__ == "__main__":
    grad_eps = train_lre(LeNet1d(), torch.randn(3, 1, 16), torch.randint(0, 10, (3,)))
    clean("the virtual update runs and the example weights get a meta-gradient", grad_eps is not None and bool(torch.isfinite(grad_eps).all()))

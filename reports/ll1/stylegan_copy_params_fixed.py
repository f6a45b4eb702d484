"""StyleGAN2-ADA: the copy utility runs under no_grad (as the later StyleGAN3 code decorates it).

Source: https://github.com/NVlabs/stylegan2-ada-pytorch/issues/280
Fix: `@torch.no_grad()` on copy_params_and_buffers
"""

import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import clean, grads_flow  # noqa: E402


def named_params_and_buffers(module):
    assert isinstance(module, torch.nn.Module)
    return list(module.named_parameters()) + list(module.named_buffers())


@torch.no_grad()
def copy_params_and_buffers(src_module, dst_module, require_all=False):
    src_tensors = {name: tensor for name, tensor in named_params_and_buffers(src_module)}
    for name, tensor in named_params_and_buffers(dst_module):
        assert (name in src_tensors) or (not require_all)
        if name in src_tensors:
            tensor.copy_(src_tensors[name].detach()).requires_grad_(tensor.requires_grad)


class MyNetwork(nn.Module):
    def __init__(self, w_dim=8):
        super().__init__()
        self.mapping = nn.Linear(w_dim, w_dim)
        self.synthesis = nn.Conv2d(3, 3, 3, padding=1)


def upgrade():
    old_net = MyNetwork()
    new_net = MyNetwork()
    copy_params_and_buffers(old_net, new_net, require_all=True)
    return old_net, new_net


if __name__ == "__main__":
    old_net, new_net = upgrade()
    new_net.mapping(torch.randn(2, 8)).sum().backward()
    clean("weights copied; the new network trains",
          torch.equal(old_net.mapping.weight, new_net.mapping.weight) and grads_flow([new_net.mapping.weight]))

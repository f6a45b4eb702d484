"""StyleGAN2-ADA: upgrading a pickled network copies its tensors into a fresh one with copy_ outside no_grad.

Source: https://github.com/NVlabs/stylegan2-ada-pytorch/issues/280
Shape: utility iterates `named_params_and_buffers(dst_module)` and writes each with `tensor.copy_(...)`; called at top level
"""

import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import bug_raises  # noqa: E402


def named_params_and_buffers(module):
    assert isinstance(module, torch.nn.Module)
    return list(module.named_parameters()) + list(module.named_buffers())


def copy_params_and_buffers(src_module, dst_module, require_all=False):
    src_tensors = {name: tensor for name, tensor in named_params_and_buffers(src_module)}
    for name, tensor in named_params_and_buffers(dst_module):
        assert (name in src_tensors) or (not require_all)
        if name in src_tensors:
            tensor.copy_(src_tensors[name].detach()).requires_grad_(tensor.requires_grad)  # expect: LL101


class MyNetwork(nn.Module):
    def __init__(self, w_dim=8):
        super().__init__()
        self.mapping = nn.Linear(w_dim, w_dim)
        self.synthesis = nn.Conv2d(3, 3, 3, padding=1)


def upgrade():
    old_net = MyNetwork()
    new_net = MyNetwork()
    copy_params_and_buffers(old_net, new_net, require_all=True)
    return new_net


if __name__ == "__main__":
    bug_raises("leaf Variable that requires grad", upgrade)

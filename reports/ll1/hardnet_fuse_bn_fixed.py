"""FCHarDNet: the folded weights are copied into the fresh conv under no_grad.

Source: https://github.com/PingoLH/FCHarDNet/issues/61
Fix: wrap the copy in `with torch.no_grad():` (the usual answer to this error)
"""

import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import clean, grads_flow  # noqa: E402


def fuse_bn_recursively(conv, bn):
    cconv = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, padding=conv.padding, bias=True)
    std = torch.sqrt(bn.running_var + bn.eps)
    with torch.no_grad():
        W = conv.weight * (bn.weight / std).view(-1, 1, 1, 1)
        cconv.weight[:, :, :, :] = W[:, :, :, :]
        cconv.bias[:] = bn.bias - bn.running_mean * bn.weight / std
    return cconv


if __name__ == "__main__":
    conv, bn = nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4)
    bn.eval()
    fused = fuse_bn_recursively(conv, bn)
    x = torch.randn(2, 3, 8, 8)
    same = torch.allclose(fused(x), bn(conv(x)), atol=1e-5)
    fused(x).sum().backward()
    clean("fused conv matches conv+bn and trains", same and grads_flow(fused.parameters()))

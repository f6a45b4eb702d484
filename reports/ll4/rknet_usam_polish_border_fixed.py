"""RK-Net's USAM attention clones the ReLU map before zeroing its border (the fix given in the thread).

Source: https://github.com/AggMan96/RK-Net/issues/9
Fix: "add `att = att.clone()` under `if self.polish:`"
Batch: holdout-5
"""

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import clean, grads_flow  # noqa: E402


class USAM(nn.Module):
    def __init__(self, kernel_size=3, padding=1, polish=False):
        super(USAM, self).__init__()
        kernel = torch.ones((kernel_size, kernel_size))
        kernel = kernel.unsqueeze(0).unsqueeze(0)
        self.weight = nn.Parameter(data=kernel, requires_grad=False)
        kernel2 = torch.ones((1, 1)) * (kernel_size * kernel_size)
        kernel2 = kernel2.unsqueeze(0).unsqueeze(0)
        self.weight2 = nn.Parameter(data=kernel2, requires_grad=False)
        self.polish = polish
        self.pad = padding
        self.relu = nn.ReLU()
        self.bn = nn.BatchNorm2d(1)

    def __call__(self, x):
        fmap = x.sum(1, keepdim=True)
        x1 = F.conv2d(fmap, self.weight, padding=self.pad)
        x2 = F.conv2d(fmap, self.weight2, padding=0)

        att = x2 - x1
        att = self.bn(att)
        att = self.relu(att)

        if self.polish:
            att = att.clone()
            att[:, :, :, 0] = 0
            att[:, :, :, -1] = 0
            att[:, :, 0, :] = 0
            att[:, :, -1, :] = 0

        output = x + att * x
        return output


class RKNet(nn.Module):
    def __init__(self):
        super(RKNet, self).__init__()
        self.stage1 = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.usam1 = USAM(polish=True)
        self.stage2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.usam2 = USAM(polish=True)
        self.classifier = nn.Linear(16, 4)

    def forward(self, x):
        x = self.usam1(F.relu(self.stage1(x)))
        x = self.usam2(F.relu(self.stage2(x)))
        return self.classifier(x.mean((2, 3)))


def train_step(model, images):
    loss = F.cross_entropy(model(images), torch.tensor([0, 3]))
    loss.backward()


if __name__ == "__main__":
    torch.manual_seed(0)
    model = RKNet()
    train_step(model, torch.randn(2, 3, 16, 16))
    clean("both stages and the attention's BatchNorm get gradients",
          grads_flow([model.stage1.weight, model.stage2.weight, model.usam1.bn.weight]))

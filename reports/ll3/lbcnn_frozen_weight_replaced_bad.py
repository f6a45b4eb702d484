"""LBCNN freezes its conv's weight, then replaces that weight with a new Parameter, which requires grad again.

Source: https://github.com/eeric/pytorch-LBCNN/issues/1
Shape: `LBCNN(Module)` wraps a Conv2d; __init__ sets `self.LBCNN.weight.requires_grad = False`, builds sparse
binary anchor weights, then assigns `self.LBCNN.weight = Parameter(...)`; the network is trained with an optimizer
over model.parameters()
Batch: holdout-5
Note: Python 3 port of the file (tabs to spaces, `numElements // 2`); the model around the layer and the SGD step
are a minimal training step, which the issue describes ("the LBCNN is just a normal 2DConv").
"""

import os
import sys

import torch
import torch.nn.functional as F
from torch.nn import Conv2d, Linear, Module, Parameter

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import bug_silent, changed  # noqa: E402


class LBCNN(Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1):
        super(LBCNN, self).__init__()
        self.nInputPlane = in_channels
        self.nOutputPlane = out_channels
        self.kW = kernel_size
        self.LBCNN = Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, False)
        self.LBCNN.weight.requires_grad = False
        # init weight
        numElements = self.nInputPlane * self.nOutputPlane * self.kW * self.kW
        index = torch.randperm(numElements)
        self.LBCNN.weight.copy = torch.Tensor(self.nOutputPlane, self.nInputPlane, self.kW, self.kW).uniform_(0, 1)
        temp = (torch.bernoulli(self.LBCNN.weight.copy) * 2 - 1).view(-1)
        for i in range(1, numElements // 2):
            temp[index[i]] = 0
        self.LBCNN.weight.copy = temp.view(self.nOutputPlane, self.nInputPlane, self.kW, self.kW)
        self.LBCNN.weight = Parameter(self.LBCNN.weight.copy)  # report: LL3

    def forward(self, input):
        return self.LBCNN.forward(input)


class Net(Module):
    def __init__(self):
        super().__init__()
        self.lbc = LBCNN(3, 8, 3, padding=1)
        self.mix = Conv2d(8, 4, 1)
        self.fc = Linear(4 * 6 * 6, 2)

    def forward(self, x):
        return self.fc(self.mix(F.relu(self.lbc(x))).flatten(1))


if __name__ == "__main__":
    torch.manual_seed(0)
    net = Net()
    anchors = net.lbc.LBCNN.weight.detach().clone()
    optimizer = torch.optim.SGD(filter(lambda p: p.requires_grad, net.parameters()), lr=0.1)
    loss = F.cross_entropy(net(torch.randn(4, 3, 6, 6)), torch.tensor([0, 1, 0, 1]))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    bug_silent("the fixed binary anchor weights require grad and are changed by the optimizer",
               net.lbc.LBCNN.weight.requires_grad and changed(anchors, net.lbc.LBCNN.weight.detach()))

"""LBCNN sets requires_grad = False after it wraps the anchor weights in a Parameter (the issue's fix).

Source: https://github.com/eeric/pytorch-LBCNN/issues/1
Fix: move `self.LBCNN.weight.requires_grad = False` below `self.LBCNN.weight = Parameter(...)`
Batch: holdout-5
"""

import os
import sys

import torch
import torch.nn.functional as F
from torch.nn import Conv2d, Linear, Module, Parameter

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import changed, clean, grads_flow  # noqa: E402


class LBCNN(Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1):
        super(LBCNN, self).__init__()
        self.nInputPlane = in_channels
        self.nOutputPlane = out_channels
        self.kW = kernel_size
        self.LBCNN = Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, False)
        # init weight
        numElements = self.nInputPlane * self.nOutputPlane * self.kW * self.kW
        index = torch.randperm(numElements)
        self.LBCNN.weight.copy = torch.Tensor(self.nOutputPlane, self.nInputPlane, self.kW, self.kW).uniform_(0, 1)
        temp = (torch.bernoulli(self.LBCNN.weight.copy) * 2 - 1).view(-1)
        for i in range(1, numElements // 2):
            temp[index[i]] = 0
        self.LBCNN.weight.copy = temp.view(self.nOutputPlane, self.nInputPlane, self.kW, self.kW)
        self.LBCNN.weight = Parameter(self.LBCNN.weight.copy)
        self.LBCNN.weight.requires_grad = False

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
    clean("the anchor weights stay fixed; the 1x1 mixing conv and the classifier train",
          not changed(anchors, net.lbc.LBCNN.weight.detach()) and grads_flow([net.mix.weight, net.fc.weight]))

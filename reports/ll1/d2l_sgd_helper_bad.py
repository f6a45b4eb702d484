"""Dive-into-DL softmax regression from scratch: an `sgd` helper updates the parameter list in place.

Source: https://github.com/ShusenTang/Dive-into-DL-PyTorch/issues/119
Shape: helper writes into its argument (a list of leaves); called from a training function
"""

import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import bug_raises  # noqa: E402

num_inputs, num_outputs = 784, 10
W = torch.normal(0, 0.01, size=(num_inputs, num_outputs))
b = torch.zeros(num_outputs)
W.requires_grad_(requires_grad=True)
b.requires_grad_(requires_grad=True)


def sgd(params, lr, batch_size):
    for param in params:
        param -= lr * param.grad / batch_size  # expect: LL102


def net(X):
    return torch.softmax(X.view(-1, num_inputs) @ W + b, dim=1)


def cross_entropy(y_hat, y):
    return -torch.log(y_hat.gather(1, y.view(-1, 1)))


def train_ch3(net, train_iter, loss, num_epochs, batch_size, params=None, lr=None):
    for epoch in range(num_epochs):
        for X, y in train_iter:
            l = loss(net(X), y).sum()
            if params is not None and params[0].grad is not None:
                for param in params:
                    param.grad.data.zero_()
            l.backward()
            sgd(params, lr, batch_size)


if __name__ == "__main__":
    train_iter = [(torch.rand(8, 784), torch.randint(0, 10, (8,)))]
    bug_raises("leaf Variable that requires grad", train_ch3, net, train_iter, cross_entropy, 1, 8, [W, b], 0.1)

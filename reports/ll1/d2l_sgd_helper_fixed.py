"""Dive-into-DL softmax regression: the `sgd` helper updates through `param.data` (the book's d2l.sgd).

Source: https://github.com/ShusenTang/Dive-into-DL-PyTorch/issues/119
Fix: `param.data -= lr * param.grad / batch_size`
"""

import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import changed, clean  # noqa: E402

num_inputs, num_outputs = 784, 10
W = torch.normal(0, 0.01, size=(num_inputs, num_outputs))
b = torch.zeros(num_outputs)
W.requires_grad_(requires_grad=True)
b.requires_grad_(requires_grad=True)


def sgd(params, lr, batch_size):
    for param in params:
        param.data -= lr * param.grad / batch_size


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
    before = W.detach().clone()
    train_iter = [(torch.rand(8, 784), torch.randint(0, 10, (8,)))]
    train_ch3(net, train_iter, cross_entropy, 2, 8, [W, b], 0.1)
    clean("W and b trained", changed(before, W.detach()) and b.grad is not None)

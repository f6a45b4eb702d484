"""bottom-up-attention-vqa's SimpleClassifier applies nn.Dropout(inplace=True) right after an nn.ReLU.

Source: https://github.com/BierOne/bottom-up-attention-vqa/issues/6
Shape: `SimpleClassifier(nn.Module)` with two weight-normed `FCNet`s (Linear + ReLU stacks) for question and image
features, their product fed to `self.main = nn.Sequential(nn.Linear, nn.ReLU(), nn.Dropout(dropout, inplace=True),
nn.Linear)`; the model is trained (dropout 0.5 in the repository's config)
Batch: holdout-5
Note: the question encoder and attention that produce q_emb and v_emb are stood in by random features with
requires_grad; the classifier and FCNet are the repository's modules.
"""

import os
import sys
import warnings

import torch
import torch.nn as nn
from torch.nn.utils.weight_norm import weight_norm

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import bug_raises  # noqa: E402

warnings.filterwarnings("ignore", category=FutureWarning)


class FCNet(nn.Module):
    """Simple class for multi-layer non-linear fully connect network; activate function: ReLU()"""

    def __init__(self, dims, dropout=0.0, norm=True):
        super(FCNet, self).__init__()
        self.num_layers = len(dims) - 1
        self.drop = dropout
        self.norm = norm
        self.main = nn.Sequential(*self._init_layers(dims))

    def _init_layers(self, dims):
        layers = []
        for i in range(self.num_layers):
            in_dim = dims[i]
            out_dim = dims[i + 1]
            if self.norm:
                layers.append(weight_norm(nn.Linear(in_dim, out_dim), dim=None))
            else:
                layers.append(nn.Linear(in_dim, out_dim))
            layers.append(nn.ReLU())
        return layers

    def forward(self, x):
        return self.main(x)


class SimpleClassifier(nn.Module):
    def __init__(self, in_dim, hid_dim, out_dim, dropout=0.0):
        super(SimpleClassifier, self).__init__()
        self.q_net = FCNet([in_dim[0], hid_dim[0]], dropout)
        self.v_net = FCNet([in_dim[1], hid_dim[0]], dropout)
        self.main = nn.Sequential(
            nn.Linear(hid_dim[0], hid_dim[1]),
            nn.ReLU(),
            nn.Dropout(dropout, inplace=True),  # expect: LL401
            nn.Linear(hid_dim[1], out_dim),
        )

    def forward(self, q_emb, v_emb):
        joint_repr = self.q_net(q_emb) * self.v_net(v_emb)
        logits = self.main(joint_repr)
        return logits


def train_step(classifier, q_emb, v_emb, target):
    logits = classifier(q_emb, v_emb)
    loss = nn.functional.binary_cross_entropy_with_logits(logits, target)
    loss.backward()


if __name__ == "__main__":
    torch.manual_seed(0)
    classifier = SimpleClassifier([12, 16], [20, 24], 10, dropout=0.5)
    classifier.train()
    q_emb, v_emb = torch.randn(4, 12, requires_grad=True), torch.randn(4, 16, requires_grad=True)
    target = torch.rand(4, 10)
    bug_raises("modified by an inplace operation", train_step, classifier, q_emb, v_emb, target)

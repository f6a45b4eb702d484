"""snnTorch: the proposed fix makes SpikingNeuron.zeros() call `state.zero_()`, which raises on a fresh hidden state.

Source: https://github.com/jeshraghian/snntorch/pull/443
Shape: static helper loops over `*args` and writes each in place; argument is a leaf hidden state from init_leaky()
that requires grad (the review of PR #424 shows the crash)
"""

import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import bug_raises  # noqa: E402


class SpikingNeuron(nn.Module):
    @staticmethod
    def zeros(*args):
        for state in args:
            state.zero_()  # expect: LL101


class Leaky(SpikingNeuron):
    def init_leaky(self):
        return torch.zeros(2, 4)


def reset_before_episode():
    lif = Leaky()
    mem = lif.init_leaky()
    mem.requires_grad_(True)
    SpikingNeuron.zeros(mem)
    return mem


if __name__ == "__main__":
    bug_raises("leaf Variable that requires grad", reset_before_episode)

"""snnTorch: SpikingNeuron.zeros() clears each state through `.detach()` (PR #443's fix), leaf or not.

Source: https://github.com/jeshraghian/snntorch/pull/443
Fix: `state.detach().zero_()`
"""

import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import clean  # noqa: E402


class SpikingNeuron(nn.Module):
    @staticmethod
    def zeros(*args):
        for state in args:
            state.detach().zero_()


class Leaky(SpikingNeuron):
    def init_leaky(self):
        return torch.zeros(2, 4)


def reset_before_episode():
    lif = Leaky()
    mem = lif.init_leaky() + 1.0
    mem = mem.detach().requires_grad_(True)
    SpikingNeuron.zeros(mem)
    return mem


if __name__ == "__main__":
    mem = reset_before_episode()
    (mem * 3).sum().backward()
    clean("the hidden state is zeroed and still a leaf that gets gradients",
          bool((mem.detach() == 0).all()) and mem.is_leaf and mem.grad is not None)

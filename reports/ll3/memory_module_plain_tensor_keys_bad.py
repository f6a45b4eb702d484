"""Remembering Normality's memory module keeps its learnable keys and values as plain tensors, not Parameters.

Source: https://github.com/SimonThomine/RememberingNormality/issues/7
Shape: `memoryModule(nn.Module)` with `self.keys = torch.randn(L, channel).to(device)` and `self.values = ...` in
__init__; forward attends over them; the module sits inside a student network trained with
Adam(student.parameters())
Batch: holdout-5
Note: the report's `.to('cuda')` becomes `.to(DEVICE)` with DEVICE = "cpu"; the ResNet student is stood in by two
convolutions around the memory module.
"""

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import bug_silent  # noqa: E402

DEVICE = "cpu"


class memoryModule(nn.Module):
    def __init__(self, L=50, channel=128, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.keys = torch.randn(L, channel).to(DEVICE)  # report: LL3
        self.values = torch.randn(L, channel).to(DEVICE)
        self.softmax = nn.Softmax(dim=1)
        self.channel = channel

    def forward(self, x: Tensor, normality=False) -> Tensor:
        b, c, h, w = x.size()
        x = x.view(x.size(0), x.size(1), -1).permute(0, 2, 1)
        keysAct = self.keys.unsqueeze(0).expand(x.size(0), -1, -1)
        norm_keys = F.normalize(keysAct, p=2, dim=2)
        norm_x = F.normalize(x, p=2, dim=2)
        cos_sim = torch.matmul(norm_keys.unsqueeze(2), norm_x.transpose(1, 2).unsqueeze(1)).squeeze(2)
        sim_vec = self.softmax(cos_sim)
        valuesAct = self.values.unsqueeze(0).expand(x.size(0), -1, -1)
        Fnorm = torch.matmul(sim_vec.permute(0, 2, 1), valuesAct)
        return Fnorm.permute(0, 2, 1).reshape(b, self.channel, h, w)


class Student(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv_in = nn.Conv2d(3, 16, 3, padding=1)
        self.memory = memoryModule(L=10, channel=16)
        self.conv_out = nn.Conv2d(16, 16, 1)

    def forward(self, x):
        return self.conv_out(self.memory(self.conv_in(x)))


if __name__ == "__main__":
    torch.manual_seed(0)
    student = Student()
    optimizer = torch.optim.Adam(student.parameters(), lr=1e-2)
    keys_before = student.memory.keys.clone()
    teacher_features = torch.randn(2, 16, 4, 4)
    for _ in range(2):
        optimizer.zero_grad()
        loss = F.mse_loss(student(torch.randn(2, 3, 4, 4)), teacher_features)
        loss.backward()
        optimizer.step()
    names = {n for n, _ in student.named_parameters()}
    bug_silent("the memory keys and values are not parameters of the model and never change",
               "memory.keys" not in names and torch.equal(keys_before, student.memory.keys))

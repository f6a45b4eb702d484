"""A WMF surrogate recommender solves user factors by ALS and writes each row into the factor Parameter.

Source: https://github.com/graytowne/revisit_adv_rec/issues/3
Shape: model class defines `self.P = nn.Parameter(...)`; a training function outside the class writes `model.P[u] = ...`
Note: reconstructed from the issue and the title of its fix (PR #4, "modify variable issue in wmf-als").
"""

import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import bug_raises  # noqa: E402


class WMF(nn.Module):
    def __init__(self, n_users, n_items, k):
        super().__init__()
        self.P = nn.Parameter(torch.randn(n_users, k) * 0.1)
        self.Q = nn.Parameter(torch.randn(n_items, k) * 0.1)

    def forward(self, users):
        return self.P[users] @ self.Q.t()


def als_user_step(model, R, lam=0.1):
    Q = model.Q.detach()
    A = Q.t() @ Q + lam * torch.eye(Q.size(1))
    for u in range(R.size(0)):
        model.P[u] = torch.linalg.solve(A, Q.t() @ R[u])  # expect: LL103


def fit_surrogate(n_users=5, n_items=7, k=3):
    R = (torch.rand(n_users, n_items) > 0.5).float()
    model = WMF(n_users, n_items, k)
    als_user_step(model, R)
    return model


if __name__ == "__main__":
    bug_raises("leaf Variable that requires grad", fit_surrogate)

"""The WMF surrogate writes its ALS solution under no_grad; the factors still take part in the attack's gradients.

Source: https://github.com/graytowne/revisit_adv_rec/issues/3
Fix: the closed-form update runs inside `with torch.no_grad():`
"""

import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import clean, grads_flow  # noqa: E402


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
    with torch.no_grad():
        for u in range(R.size(0)):
            model.P[u] = torch.linalg.solve(A, Q.t() @ R[u])


def fit_surrogate(n_users=5, n_items=7, k=3):
    R = (torch.rand(n_users, n_items) > 0.5).float()
    model = WMF(n_users, n_items, k)
    als_user_step(model, R)
    return model, R


if __name__ == "__main__":
    model, R = fit_surrogate()
    (model(torch.arange(5)) - R).pow(2).sum().backward()
    clean("factors solved; gradients reach both factor matrices", grads_flow([model.P, model.Q]))

"""A MAML implementation adapts a clone of the model with `param.data -= inner_lr * grad` in the inner loop.

Source: https://github.com/KanishJebaMathewM/Truxify/issues/13118
Shape: `MAMLModel(nn.Module)` with a `clone()` that copies the state dict; class `MAML` (not a module) with
`inner_update(model, x, y)` that takes `torch.autograd.grad(..., create_graph=True)` and writes each step through
`param.data -= self.inner_lr * grad`; `meta_train_step` sums the query losses over tasks and calls `outer_update`,
whose Adam holds `self.model.parameters()`
Batch: holdout-5
Note: the issue quotes the inner loop (`param.data -= self.inner_lr * grad` over `adapted_model.parameters()`);
the line that made `adapted_model` is not quoted, so it is rebuilt with the model's own `clone()` method. Dimensions
are small and the task generator is two in-file random linear tasks (no numpy).
"""

import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import bug_silent, changed  # noqa: E402


class MAMLModel(nn.Module):
    def __init__(self, input_dim=8, hidden_dim=16, output_dim=1, num_layers=2):
        super().__init__()
        self.input_dim, self.hidden_dim, self.output_dim, self.num_layers = input_dim, hidden_dim, output_dim, num_layers
        layers = [nn.Linear(input_dim, hidden_dim), nn.ReLU()]
        for _ in range(num_layers - 1):
            layers += [nn.Linear(hidden_dim, hidden_dim), nn.ReLU()]
        layers.append(nn.Linear(hidden_dim, output_dim))
        self.network = nn.Sequential(*layers)

    def forward(self, x):
        return self.network(x)

    def clone(self):
        clone = MAMLModel(self.input_dim, self.hidden_dim, self.output_dim, self.num_layers)
        clone.load_state_dict(self.state_dict())
        return clone


class MAML:
    def __init__(self, model, inner_lr=0.01, outer_lr=0.001):
        self.model = model
        self.inner_lr = inner_lr
        self.outer_optimizer = torch.optim.Adam(self.model.parameters(), lr=outer_lr)
        self.criterion = nn.MSELoss()

    def inner_update(self, model, support_x, support_y):
        adapted_model = model.clone()
        loss = self.criterion(adapted_model(support_x), support_y)
        grads = torch.autograd.grad(loss, adapted_model.parameters(), create_graph=True)
        for param, grad in zip(adapted_model.parameters(), grads):
            param.data -= self.inner_lr * grad  # expect: LL201
        return adapted_model

    def outer_update(self, meta_loss):
        self.outer_optimizer.zero_grad()
        meta_loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.outer_optimizer.step()

    def meta_train_step(self, tasks):
        meta_loss = 0.0
        for support_x, support_y, query_x, query_y in tasks:
            adapted_model = self.inner_update(self.model, support_x, support_y)
            task_loss = self.criterion(adapted_model(query_x), query_y)
            meta_loss += task_loss
        meta_loss = meta_loss / len(tasks)
        self.outer_update(meta_loss)
        return meta_loss.item()


def sample_task(w, b, k_shot=5):
    sx, qx = torch.randn(k_shot, 8), torch.randn(10, 8)
    return sx, sx @ w + b, qx, qx @ w + b


if __name__ == "__main__":
    torch.manual_seed(0)
    maml = MAML(MAMLModel())
    before = [p.detach().clone() for p in maml.model.parameters()]
    tasks = [sample_task(torch.randn(8, 1), torch.randn(1)) for _ in range(2)]
    maml.meta_train_step(tasks)
    bug_silent("the meta-model's parameters get no gradient and do not move",
               all(p.grad is None for p in maml.model.parameters())
               and not any(changed(b, p.detach()) for b, p in zip(before, maml.model.parameters())))

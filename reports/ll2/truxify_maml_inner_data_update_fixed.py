"""The MAML inner loop keeps the graph: adapted parameters are `p.clone() - inner_lr * grad`, run by functional_call.

Source: https://github.com/KanishJebaMathewM/Truxify/issues/13118
Fix: the merged inner_update: `adapted = {name: p.clone() ...}`, `torch.func.functional_call(model, adapted, (x,))`,
`adapted = {name: param - self.inner_lr * grad ...}` (no `.data`, no detached clone)
Batch: holdout-5
"""

import os
import sys

import torch
import torch.nn as nn
from torch.func import functional_call

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import changed, clean, grads_flow  # noqa: E402


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


class AdaptedModel:
    def __init__(self, base_model, params):
        self.base_model = base_model
        self.params = params

    def __call__(self, x):
        return functional_call(self.base_model, self.params, (x,))


class MAML:
    def __init__(self, model, inner_lr=0.01, outer_lr=0.001):
        self.model = model
        self.inner_lr = inner_lr
        self.outer_optimizer = torch.optim.Adam(self.model.parameters(), lr=outer_lr)
        self.criterion = nn.MSELoss()

    def inner_update(self, model, support_x, support_y):
        adapted = {name: p.clone() for name, p in model.named_parameters()}
        loss = self.criterion(functional_call(model, adapted, (support_x,)), support_y)
        grads = torch.autograd.grad(loss, list(adapted.values()), create_graph=True)
        adapted = {name: param - self.inner_lr * grad for (name, param), grad in zip(adapted.items(), grads)}
        return AdaptedModel(model, adapted)

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
    clean("the meta-model gets gradients through the inner step and moves",
          grads_flow(maml.model.parameters())
          and all(changed(b, p.detach()) for b, p in zip(before, maml.model.parameters())))

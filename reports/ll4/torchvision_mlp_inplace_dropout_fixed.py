"""torchvision.ops.MLP with dropout > 0, built with inplace=False (the call the report shows working).

Source: https://github.com/pytorch/vision/issues/7174
Fix: `MLP(3, [3, 3], dropout=0.5, inplace=False)`, so neither ReLU nor Dropout runs in place
Batch: holdout-5
"""

import os
import sys
from typing import Callable, List, Optional

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import clean, grads_flow  # noqa: E402


class MLP(torch.nn.Sequential):
    """This block implements the multi-layer perceptron (MLP) module."""

    def __init__(
        self,
        in_channels: int,
        hidden_channels: List[int],
        activation_layer: Optional[Callable[..., torch.nn.Module]] = torch.nn.ReLU,
        inplace: Optional[bool] = True,
        bias: bool = True,
        dropout: float = 0.0,
    ):
        params = {} if inplace is None else {"inplace": inplace}
        layers = []
        in_dim = in_channels
        for hidden_dim in hidden_channels[:-1]:
            layers.append(torch.nn.Linear(in_dim, hidden_dim, bias=bias))
            layers.append(activation_layer(**params))
            layers.append(torch.nn.Dropout(dropout, **params))
            in_dim = hidden_dim
        layers.append(torch.nn.Linear(in_dim, hidden_channels[-1], bias=bias))
        layers.append(torch.nn.Dropout(dropout, **params))
        super().__init__(*layers)


if __name__ == "__main__":
    torch.manual_seed(0)
    mlp = MLP(3, [3, 3], dropout=0.5, inplace=False)
    mlp(torch.rand(3)).sum().backward()
    clean("both Linear layers get gradients", all(p.grad is not None for p in mlp.parameters()) and grads_flow([mlp[0].bias]))

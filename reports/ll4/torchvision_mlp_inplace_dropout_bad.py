"""torchvision.ops.MLP with dropout > 0: its ReLU and Dropout layers are built with inplace=True by default.

Source: https://github.com/pytorch/vision/issues/7174
Shape: library module tree: `MLP(torch.nn.Sequential)` whose __init__ appends, per hidden layer, `Linear`,
`activation_layer(**params)` and `Dropout(dropout, **params)` with `params = {"inplace": inplace}` and the default
`inplace=True`; the user calls `MLP(3, [3, 3], dropout=0.5)(x).sum().backward()`
Batch: holdout-5
Note: torchvision is not installed here; MLP is inlined as torchvision 0.14 wrote it (norm layer omitted).
"""

import os
import sys
from typing import Callable, List, Optional

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import bug_raises  # noqa: E402


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
            layers.append(torch.nn.Dropout(dropout, **params))  # expect: LL401
            in_dim = hidden_dim
        layers.append(torch.nn.Linear(in_dim, hidden_channels[-1], bias=bias))
        layers.append(torch.nn.Dropout(dropout, **params))
        super().__init__(*layers)


if __name__ == "__main__":
    torch.manual_seed(0)
    bug_raises("modified by an inplace operation", lambda: MLP(3, [3, 3], dropout=0.5)(torch.rand(3)).sum().backward())

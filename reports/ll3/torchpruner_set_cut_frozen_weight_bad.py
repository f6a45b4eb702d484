"""torchpruner's ConvPruner.set_cut assigns the pruned tensor back over the conv's weight Parameter.

Source: https://github.com/THU-MIG/torch-model-compression/issues/5
Shape: pruner classes (`ConvPruner` owning two `ParameterPruner`s); `set_cut_tensor(tensor, cut_dims)` shrinks a
tensor in place with `set_` when it requires grad, but slices it (`data = data[data_slice]`, a plain tensor) when it
does not; `ConvPruner.set_cut` then does `nn_module.weight, weight_context = self.weight_pruner.set_cut(...)`
Batch: holdout-5
Note: numpy (index bookkeeping, saved slices) is replaced by torch ops. The weight that does not require grad is a
frozen first conv, which is how a Parameter reaches the slicing branch; the report's model comes from mmdetection.
"""

import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import bug_raises  # noqa: E402


def create_slice(index, dim):
    return tuple([slice(None)] * dim + [index])


def neg_index(index, size):
    mask = torch.ones(size, dtype=torch.bool)
    mask[index] = False
    return torch.arange(size)[mask]


def set_cut_tensor(tensor, cut_dims):
    data = tensor
    param_list = []
    for i in range(0, len(cut_dims)):
        if len(cut_dims[i]) == 0:
            param_list.append(None)
            continue
        param_list.append(data[create_slice(torch.tensor(cut_dims[i]), i)].detach().clone())
        data_slice = create_slice(neg_index(cut_dims[i], data.size(i)), i)
        if data.requires_grad:
            with torch.no_grad():
                data.set_(data[data_slice])
        else:
            data = data[data_slice]
    data.grad = None
    return data, param_list


class ParameterPruner:
    def __init__(self, name):
        self.name = name

    def set_cut(self, data, cut_dict):
        if self.name not in cut_dict["terminal"]:
            return data, {}
        data, param_list = set_cut_tensor(data, cut_dict["terminal"][self.name])
        return data, {self.name: param_list}


class ConvPruner:
    def __init__(self, name):
        self.name = name
        self.weight_pruner = ParameterPruner(name + ".weight")
        self.bias_pruner = ParameterPruner(name + ".bias")

    def set_cut(self, nn_module, cut_dict):
        nn_module.weight, weight_context = self.weight_pruner.set_cut(nn_module.weight, cut_dict)  # expect: LL303
        nn_module.bias, bias_context = self.bias_pruner.set_cut(nn_module.bias, cut_dict)
        nn_module.in_channels = nn_module.weight.data.size(1) * nn_module.groups
        nn_module.out_channels = nn_module.weight.data.size(0)
        return nn_module, {**weight_context, **bias_context}


def prune_model(model, cut_dict):
    context = {}
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            _, ctx = ConvPruner(name).set_cut(module, cut_dict)
            context.update(ctx)
    return context


if __name__ == "__main__":
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 4, 3))
    model[0].weight.requires_grad_(False)  # a frozen stem
    cut = {"terminal": {"0.weight": [[1, 5], [], [], []], "0.bias": [[1, 5]], "2.weight": [[], [1, 5], [], []]}}
    bug_raises("cannot assign", prune_model, model, cut)

"""torchpruner's set_cut_tensor writes a sliced frozen Parameter back through `.data` and returns the Parameter.

Source: https://github.com/THU-MIG/torch-model-compression/issues/5
Fix: the maintainers' change to set_cut_tensor: `if (not data.requires_grad) and isinstance(tensor, nn.Parameter):
tensor.data = data`, then `return tensor, param_list`, so set_cut always assigns the Parameter itself
Batch: holdout-5
"""

import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import clean, grads_flow  # noqa: E402


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
    if (not data.requires_grad) and isinstance(tensor, nn.Parameter):
        tensor.data = data
    return tensor, param_list


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
        nn_module.weight, weight_context = self.weight_pruner.set_cut(nn_module.weight, cut_dict)
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
    prune_model(model, cut)
    model(torch.randn(1, 3, 8, 8)).sum().backward()
    clean("the convs are pruned to 6 channels, weights stay Parameters, the trainable ones get gradients",
          model[0].weight.shape[0] == 6 and model[2].weight.shape[1] == 6
          and isinstance(model[0].weight, nn.Parameter) and not model[0].weight.requires_grad
          and grads_flow([model[0].bias, model[2].weight, model[2].bias]))

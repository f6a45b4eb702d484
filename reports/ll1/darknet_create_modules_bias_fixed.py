"""YOLOv3 create_modules initialises the conv bias through `.data` (upstream ultralytics/yolov3's fix, PR #1619).

Source: https://github.com/sovit-123/Traffic-Light-Detection-Using-YOLOv3/issues/4
Fix: `bias.data[:, 4] += ...` and `bias.data[:, 5:] += ...`; the reporter's own variant (`bias_ = ....bias.data`,
then `nn.Parameter(bias, requires_grad=bias_.requires_grad)`) would leave a 2-D bias that does not require grad
Batch: holdout-5
"""

import math
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import clean, grads_flow  # noqa: E402


class YOLOLayer(nn.Module):
    def __init__(self, anchors, nc, img_size, yolo_index):
        super().__init__()
        self.anchors = torch.tensor(anchors, dtype=torch.float32)
        self.na = len(anchors)
        self.nc = nc
        self.no = nc + 5
        self.index = yolo_index

    def forward(self, p):
        bs, _, ny, nx = p.shape
        return p.view(bs, self.na, self.no, ny, nx).permute(0, 1, 3, 4, 2).contiguous()


def create_modules(module_defs, img_size):
    output_filters = [3]
    module_list = nn.ModuleList()
    yolo_index = -1
    for i, mdef in enumerate(module_defs):
        modules = nn.Sequential()
        if mdef["type"] == "convolutional":
            filters = mdef["filters"]
            modules.add_module("Conv2d", nn.Conv2d(output_filters[-1], filters, mdef["size"], padding=mdef["size"] // 2))
            if mdef.get("activation") == "leaky":
                modules.add_module("activation", nn.LeakyReLU(0.1))
        elif mdef["type"] == "yolo":
            yolo_index += 1
            modules = YOLOLayer(anchors=mdef["anchors"], nc=mdef["classes"], img_size=img_size, yolo_index=yolo_index)

            # Initialize preceding Conv2d() bias (https://arxiv.org/pdf/1708.02002.pdf section 3.3)
            j = -1
            bias_ = module_list[j][0].bias  # shape(255,)
            bias = bias_[: modules.no * modules.na].view(modules.na, -1)  # shape(3,85)
            bias.data[:, 4] += -4.5  # obj
            bias.data[:, 5:] += math.log(0.6 / (modules.nc - 0.99))  # cls (sigmoid(p) = 1/nc)
            module_list[j][0].bias = torch.nn.Parameter(bias_, requires_grad=bias_.requires_grad)
        module_list.append(modules)
        output_filters.append(filters)
    return module_list


MODULE_DEFS = [
    {"type": "convolutional", "filters": 16, "size": 3, "activation": "leaky"},
    {"type": "convolutional", "filters": 3 * (5 + 2), "size": 1},
    {"type": "yolo", "anchors": [(10, 14), (23, 27), (37, 58)], "classes": 2},
]

if __name__ == "__main__":
    module_list = create_modules(MODULE_DEFS, 64)
    x = torch.randn(1, 3, 8, 8)
    for m in module_list:
        x = m(x)
    x.sigmoid().sum().backward()
    head = module_list[1][0]
    obj = head.bias.detach().view(3, -1)[:, 4]
    clean("objectness biases initialised; the head's bias trains",
          bool((obj < -1).all()) and grads_flow([head.bias, head.weight]))

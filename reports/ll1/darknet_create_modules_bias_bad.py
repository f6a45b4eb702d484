"""YOLOv3 (ultralytics-style Darknet) create_modules initialises the conv bias in front of each YOLO layer in place.

Source: https://github.com/sovit-123/Traffic-Light-Detection-Using-YOLOv3/issues/4
Shape: module-level `create_modules(module_defs, img_size)` builds an nn.ModuleList of nn.Sequential blocks from a
parsed cfg; at a 'yolo' entry it takes `bias_ = module_list[j][0].bias`, `bias = bias_[:no * na].view(na, -1)` and
writes `bias[:, 4] += ...` / `bias[:, 5:] += ...`, then re-wraps `bias_` in a new Parameter
Batch: holdout-5
Note: the cfg is a short in-file list of dicts instead of a parsed .cfg file; the repository's models.py is not in
the index, so the function is rebuilt from the lines quoted in the issue and the ultralytics yolov3 create_modules
it was copied from (without that version's try/except, since the report says the code fails).
"""

import math
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import bug_raises  # noqa: E402


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
            bias[:, 4] += -4.5  # expect: LL102
            bias[:, 5:] += math.log(0.6 / (modules.nc - 0.99))  # cls (sigmoid(p) = 1/nc)
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
    bug_raises("a view of a leaf Variable", create_modules, MODULE_DEFS, 64)

"""open-retina's spatial contrast model clamps its contrast weight in place in an optimizer_step override.

Source: https://github.com/open-retina/open-retina/pull/180
Shape: LightningModule with a `nonlinearity` submodule holding the learnable `w` (and a, b, c); the module's
`optimizer_step(epoch, batch_idx, optimizer, optimizer_closure)` calls `optimizer.step(closure=optimizer_closure)`
then `self.nonlinearity.w.clamp_(min=0.0)`
Batch: holdout-5
Note: lightning and einops are not installed: the class is an nn.Module with the same hooks, driven the way Lightning
drives them (the closure runs training_step and backward inside optimizer.step). The STA-derived filters are
small fixed buffers instead of files; the Poisson loss is torch's.
"""

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import bug_raises  # noqa: E402


class SpatialContrastNonlinearity(nn.Module):
    """y = a * softplus(b * (imean + w * lsc) + c)"""

    def __init__(self, w_init=-0.5, a_init=1.0, b_init=1.0, c_init=0.0):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w_init), requires_grad=True)
        self.a = nn.Parameter(torch.tensor(a_init), requires_grad=True)
        self.b = nn.Parameter(torch.tensor(b_init), requires_grad=True)
        self.c = nn.Parameter(torch.tensor(c_init), requires_grad=True)

    def forward(self, imean, lsc):
        return self.a * F.softplus(self.b * (imean + self.w * lsc) + self.c)


class SpatialContrastModel(nn.Module):
    def __init__(self, height=6, width=6, n_taps=4, learning_rate=1e-2):
        super().__init__()
        self.learning_rate = learning_rate
        yy, xx = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
        spatial = torch.exp(-((yy - height / 2) ** 2 + (xx - width / 2) ** 2) / 4.0)
        self.register_buffer("spatial_filter", spatial)
        self.register_buffer("spatial_filter_sum", spatial.sum())
        self.register_buffer("temporal_filter", torch.linspace(-0.5, 1.0, n_taps))
        self.nonlinearity = SpatialContrastNonlinearity()

    def forward(self, x):
        b, c, t, h, w = x.shape
        series = x.permute(0, 3, 4, 1, 2).reshape(b * h * w, c, t)
        filtered = F.conv1d(series, self.temporal_filter.view(1, 1, -1)).reshape(b, h, w, -1).permute(0, 3, 1, 2)
        imean = (self.spatial_filter * filtered).sum(dim=(-2, -1)) / (self.spatial_filter_sum + 1e-8)
        deviation_sq = (filtered - imean[:, :, None, None]) ** 2
        lsc = torch.sqrt((self.spatial_filter * deviation_sq).sum(dim=(-2, -1)) / (self.spatial_filter_sum + 1e-8))
        return self.nonlinearity(imean, lsc).unsqueeze(-1)

    def training_step(self, batch, batch_idx):
        inputs, targets = batch
        output = self.forward(inputs)
        return F.poisson_nll_loss(output, targets, log_input=False)

    def optimizer_step(self, epoch, batch_idx, optimizer, optimizer_closure=None):
        """Override implementation to allow parameter clamping at each training step"""
        optimizer.step(closure=optimizer_closure)

        # To avoid negative model predictions, clamp the contrast weight in the nonlinearity
        self.nonlinearity.w.clamp_(min=0.0)  # expect: LL101

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=self.learning_rate)


if __name__ == "__main__":
    torch.manual_seed(0)
    model = SpatialContrastModel()
    optimizer = model.configure_optimizers()
    batch = (torch.randn(2, 1, 10, 6, 6), torch.poisson(torch.full((2, 7, 1), 2.0)))

    def closure():
        optimizer.zero_grad()
        loss = model.training_step(batch, 0)
        loss.backward()
        return loss

    bug_raises("a leaf Variable that requires grad", model.optimizer_step, 0, 0, optimizer, closure)

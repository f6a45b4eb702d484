"""Reconstructed from https://github.com/MorvanZhou/PyTorch-Tutorial/issues/98 (406_conditional_GAN):
D is stepped between D_loss.backward(retain_graph=True) and G_loss.backward(), whose graph went
through D's weights before the step ([128, 1], output 0 of TBackward)."""

import torch
import torch.nn as nn

from _run import reproduce

N_IDEAS, ART_COMPONENTS, BATCH = 5, 15, 8
G = nn.Sequential(nn.Linear(N_IDEAS + 1, 128), nn.ReLU(), nn.Linear(128, ART_COMPONENTS))
D = nn.Sequential(nn.Linear(ART_COMPONENTS + 1, 128), nn.ReLU(), nn.Linear(128, 1), nn.Sigmoid())
opt_D = torch.optim.Adam(D.parameters(), lr=1e-4)
opt_G = torch.optim.Adam(G.parameters(), lr=1e-4)


def step():
    labels = torch.ones(BATCH, 1)
    paintings = torch.randn(BATCH, ART_COMPONENTS)
    G_paintings = G(torch.cat((torch.randn(BATCH, N_IDEAS), labels), 1))
    prob_artist0 = D(torch.cat((paintings, labels), 1))
    prob_artist1 = D(torch.cat((G_paintings, labels), 1))
    D_loss = -torch.mean(torch.log(prob_artist0) + torch.log(1.0 - prob_artist1))
    G_loss = torch.mean(torch.log(1.0 - prob_artist1))
    opt_D.zero_grad()
    D_loss.backward(retain_graph=True)
    opt_D.step()  # write
    opt_G.zero_grad()
    G_loss.backward()
    opt_G.step()


if __name__ == "__main__":
    reproduce(step)

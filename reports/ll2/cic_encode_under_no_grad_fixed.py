"""CIC's agent update encodes `obs` with grad on, as URLB's DDPG base agent does; only next_obs is under no_grad.

Source: https://github.com/rll-research/cic/issues/5
Fix: `obs = self.aug_and_encode(obs)` outside `torch.no_grad()`; the CIC update gets `obs.detach()`
Batch: holdout-5
"""

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import changed, clean, grads_flow  # noqa: E402


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.convnet = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2), nn.ReLU(), nn.Flatten())
        self.repr_dim = 4 * 3 * 3

    def forward(self, obs):
        return self.convnet(obs / 255.0 - 0.5)


class DDPGAgent:
    def __init__(self, skill_dim, hidden_dim, lr):
        self.encoder = Encoder()
        self.obs_dim = self.encoder.repr_dim + skill_dim
        self.critic = nn.Sequential(nn.Linear(self.obs_dim + 2, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, 1))
        self.encoder_opt = torch.optim.Adam(self.encoder.parameters(), lr=lr)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=lr)

    def aug_and_encode(self, obs):
        return self.encoder(obs)

    def update_critic(self, obs, action, reward, next_obs):
        target_q = reward + 0.99 * self.critic(torch.cat([next_obs, action], 1)).detach()
        q = self.critic(torch.cat([obs, action], 1))
        critic_loss = F.mse_loss(q, target_q)
        self.encoder_opt.zero_grad(set_to_none=True)
        self.critic_opt.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_opt.step()
        self.encoder_opt.step()
        return {"critic_loss": critic_loss.item()}


class CIC(nn.Module):
    def __init__(self, obs_dim, skill_dim, hidden_dim):
        super().__init__()
        self.state_net = nn.Sequential(nn.Linear(obs_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, skill_dim))
        self.pred_net = nn.Sequential(nn.Linear(2 * skill_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, skill_dim))

    def forward(self, state, next_state, skill):
        state, next_state = self.state_net(state), self.state_net(next_state)
        return skill, self.pred_net(torch.cat([state, next_state], 1))


class CICAgent(DDPGAgent):
    def __init__(self, skill_dim, hidden_dim, lr):
        super().__init__(skill_dim, hidden_dim, lr)
        self.cic = CIC(self.obs_dim - skill_dim, skill_dim, hidden_dim)
        self.cic_optimizer = torch.optim.Adam(self.cic.parameters(), lr=lr)

    def update_cic(self, obs, skill, next_obs):
        query, key = self.cic(obs, next_obs, skill)
        loss = -(F.normalize(query, dim=1) * F.normalize(key, dim=1)).sum(1).mean()
        self.cic_optimizer.zero_grad()
        loss.backward()
        self.cic_optimizer.step()

    @torch.no_grad()
    def compute_apt_reward(self, obs, next_obs):
        source, target = self.cic.state_net(obs), self.cic.state_net(next_obs)
        return torch.cdist(source, target).topk(2, dim=1, largest=False).values.mean(1, keepdim=True)

    def update(self, batch):
        obs, action, next_obs, skill = batch
        obs = self.aug_and_encode(obs)
        with torch.no_grad():
            next_obs = self.aug_and_encode(next_obs)
        self.update_cic(obs.detach(), skill, next_obs)
        reward = self.compute_apt_reward(next_obs, next_obs)
        obs = torch.cat([obs, skill], dim=1)
        next_obs = torch.cat([next_obs, skill], dim=1)
        return self.update_critic(obs, action, reward, next_obs)


if __name__ == "__main__":
    torch.manual_seed(0)
    agent = CICAgent(skill_dim=4, hidden_dim=32, lr=1e-2)
    before = [p.detach().clone() for p in agent.encoder.parameters()]
    batch = (torch.rand(8, 3, 8, 8) * 255, torch.randn(8, 2), torch.rand(8, 3, 8, 8) * 255, torch.rand(8, 4))
    agent.update(batch)
    clean("the pixel encoder gets gradients and moves",
          grads_flow(agent.encoder.parameters())
          and all(changed(b, p.detach()) for b, p in zip(before, agent.encoder.parameters())))

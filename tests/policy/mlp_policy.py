"""A second, trivial policy type for the policy-seam tests: an MLP over the last n_obs_steps joint
states that predicts a chunk of actions. Registered as "mlp_test" when imported (a plugin:
`policy train --plugin tests/policy/mlp_policy.py`, POLICY_PLUGINS for the node)."""
from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

from policy.base import ACTION, STATE, Policy, PolicyConfig, register_policy


@dataclass
class MLPConfig(PolicyConfig):
    n_obs_steps: int = 2
    chunk_size: int = 5
    n_action_steps: int = 5
    hidden_dim: int = 64
    optimizer_lr: float = 3e-3


class MLPPolicy(Policy):
    def __init__(self, config: MLPConfig, workspace=None) -> None:  # noqa: ANN001
        super().__init__(config, workspace)
        self.state_dim = int(config.robot_state_feature["shape"][0])
        self.action_dim = int(config.action_feature["shape"][0])
        self.net = nn.Sequential(nn.Linear(config.n_obs_steps * self.state_dim, config.hidden_dim), nn.ReLU(),
                                 nn.Linear(config.hidden_dim, config.chunk_size * self.action_dim))

    def predict_chunk(self, batch: dict[str, Tensor]) -> Tensor:
        x = batch[STATE].reshape(batch[STATE].shape[0], -1)  # (B, n_obs_steps * D)
        return self.net(x).view(-1, self.config.chunk_size, self.action_dim)

    def forward(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
        err = F.mse_loss(self.predict_chunk(batch), batch[ACTION], reduction="none")
        if "action_is_pad" in batch:
            err = err * (~batch["action_is_pad"]).unsqueeze(-1)
        loss = err.mean()
        return loss, {"mse_loss": float(loss.detach())}


register_policy("mlp_test", MLPConfig, MLPPolicy)

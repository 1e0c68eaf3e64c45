"""FT (fine-tuning): keep training on the remain set only, L = CE(D_r), and rely on catastrophic forgetting."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .base import IterativeUnlearner, UnlearnConfig


@dataclass
class FineTuneConfig(UnlearnConfig):
    steps: int = 150
    lr: float = 0.05


class FineTune(IterativeUnlearner):
    name = "ft"
    Config = FineTuneConfig

    def step(self, step: int) -> dict[str, float]:
        terms: dict[str, float] = {}

        def loss() -> torch.Tensor:
            x, y = self.remain_batch()
            value = F.cross_entropy(self.trainer.model(x), y)
            terms.update(remain_ce=value.item())
            return value

        self.trainer.optimizer_step(loss, None, self.config.max_grad_norm)
        return terms

"""RL (random labels): fine-tune on the forget set relabelled to random wrong classes, and on the retain set.

L = CE(f(x_f), ỹ_f) + λ_r · CE(f(x_r), y_r),     ỹ_f uniform over the classes other than y_f
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..weighting import other_class
from .base import IterativeUnlearner, UnlearnConfig


def relabel_loss(
    forget_logits: torch.Tensor,
    new_labels: torch.Tensor,
    retain_logits: torch.Tensor,
    retain_labels: torch.Tensor,
    retain_weight: float = 1.0,
) -> torch.Tensor:
    """CE(forget logits, new labels) + λ_r · CE(retain logits, retain labels)."""
    return F.cross_entropy(forget_logits, new_labels) + retain_weight * F.cross_entropy(retain_logits, retain_labels)


@dataclass
class RandomLabelsConfig(UnlearnConfig):
    lr: float = 0.002
    retain_weight: float = 1.0  # λ_r


class RandomLabels(IterativeUnlearner):
    name = "rl"
    Config = RandomLabelsConfig
    config: RandomLabelsConfig
    mask = None  # SalUn reuses this step with a saliency mask

    def step(self, step: int) -> dict[str, float]:
        terms: dict[str, float] = {}

        def loss() -> torch.Tensor:
            (x_r, y_r), (x_f, y_f) = self.retain_batch(), self.forget_batch()
            retain_logits, forget_logits = self.forward_both(x_r, x_f)
            new_labels = other_class(y_f.cpu(), self.num_classes, "random", self.generator).to(y_f.device)
            value = relabel_loss(forget_logits, new_labels, retain_logits, y_r, self.config.retain_weight)
            terms.update(loss=value.item())
            return value

        self.trainer.optimizer_step(loss, self.mask, self.config.max_grad_norm)
        return terms

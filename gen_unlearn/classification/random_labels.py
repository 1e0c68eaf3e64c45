"""RL (random labels): fine-tune on the forget set relabelled to random wrong classes, and on the remain set.

L = CE(f(x_f), ỹ_f) + λ_r · CE(f(x_r), y_r),     ỹ_f uniform over the classes other than y_f

With `forget_until_forgotten` (the default) the first term is dropped on forget batches that are already
forgotten (see `IterativeUnlearner.remembers`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..relabel import other_class
from .base import IterativeUnlearner, UnlearnConfig, batch_accuracy


def relabel_loss(
    forget_logits: torch.Tensor,
    new_labels: torch.Tensor,
    remain_logits: torch.Tensor,
    remain_labels: torch.Tensor,
    remain_weight: float = 1.0,
    forget: bool = True,
) -> torch.Tensor:
    """CE(forget logits, new labels) + λ_r · CE(remain logits, remain labels); the remain term alone if not `forget`."""
    remain = remain_weight * F.cross_entropy(remain_logits, remain_labels)
    return F.cross_entropy(forget_logits, new_labels) + remain if forget else remain


@dataclass
class RandomLabelsConfig(UnlearnConfig):
    # The forget term stops once a forget batch is forgotten, and λ_r = 2: relabelling a class to random
    # others moves the boundaries between those others (Fashion-MNIST class 3, 75 steps, λ_r 1, no gate:
    # TA 1.9 points under retraining; these defaults: 0.9).
    steps: int = 120
    forget_batch_size: int = 32
    lr: float = 0.002
    remain_weight: float = 2.0  # λ_r
    forget_until_forgotten: bool = True


class RandomLabels(IterativeUnlearner):
    name = "rl"
    Config = RandomLabelsConfig
    config: RandomLabelsConfig
    mask = None  # SalUn reuses this step with a saliency mask

    def step(self, step: int) -> dict[str, float]:
        terms: dict[str, float] = {}

        def loss() -> torch.Tensor:
            (x_r, y_r), (x_f, y_f) = self.remain_batch(), self.forget_batch()
            remain_logits, forget_logits = self.forward_both(x_r, x_f)
            new_labels = other_class(y_f.cpu(), self.num_classes, "random", self.generator).to(y_f.device)
            forget_acc = batch_accuracy(forget_logits.detach(), y_f)
            forget = self.remembers(forget_acc)
            value = relabel_loss(forget_logits, new_labels, remain_logits, y_r, self.config.remain_weight, forget)
            terms.update(loss=value.item(), forget_acc=forget_acc, forget=float(forget))
            return value

        self.trainer.optimizer_step(loss, self.mask, self.config.max_grad_norm)
        return terms

"""GA (gradient ascent): maximise the cross-entropy of the forget set, L = −CE(D_f). No remain term.

Ascent on a cross-entropy has no end: once the forget samples are misclassified the loss, and soon the
weights, run away (a few steps from a useful model to a constant one). `stop_when_forgotten` ends the
ascent at the first forget batch whose accuracy is at most that of a model that never saw D_f
(`IterativeUnlearner.forgotten_accuracy`: 0 for a forgotten class, the validation accuracy for a random
subset). A stop on the mean cross-entropy (ln K, chance level) comes too early: the per-sample losses are
bimodal, and a batch reaches a mean of ln K with half of it still classified correctly.

GA is the collapse baseline: with no remain term nothing holds the other classes in place, so it is
exempt from the benchmark's TA target (|TA − TA_retrain| ≤ 1); it shows what forgetting by ascent alone
costs. Memorize-to-Forget (`memorize_to_forget.py`) takes no ascent step and keeps a remain (KL) term.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .base import IterativeUnlearner, UnlearnConfig, batch_accuracy


def gradient_ascent_loss(forget_logits: torch.Tensor, forget_labels: torch.Tensor) -> torch.Tensor:
    """−CE(forget)."""
    return -F.cross_entropy(forget_logits, forget_labels)


@dataclass
class GradientAscentConfig(UnlearnConfig):
    steps: int = 150  # at most: the run stops once the forget batch is forgotten (~50 steps on MNIST)
    optimizer: str = "adamw"  # reaches FA 0 at a higher TA than SGD (MNIST class 3: TA ~78% vs ~41%)
    lr: float = 1e-4
    weight_decay: float = 0.0
    max_grad_norm: float | None = None
    freeze_norm_stats: bool = True  # forget batches only
    stop_when_forgotten: bool = True


class GradientAscent(IterativeUnlearner):
    name = "ga"
    Config = GradientAscentConfig
    config: GradientAscentConfig

    def step(self, step: int) -> dict[str, float]:
        terms: dict[str, float] = {}

        def loss() -> torch.Tensor:
            x, y = self.forget_batch()
            logits = self.trainer.model(x)
            value = gradient_ascent_loss(logits, y)
            terms.update(forget_ce=-value.item(), forget_acc=batch_accuracy(logits.detach(), y))
            return value

        self.trainer.optimizer_step(loss, None, self.config.max_grad_norm)
        return terms

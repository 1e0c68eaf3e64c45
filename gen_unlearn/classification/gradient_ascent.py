"""GA (gradient ascent): maximise the cross-entropy of the forget set, L = −CE(D_f). No retain term.

Ascent on a cross-entropy has no end: once the forget samples are misclassified the loss, and soon the
weights, run away (a few steps from a useful model to a constant one). `stop_at_chance` ends the ascent
at the first forget batch whose mean cross-entropy reaches ln K, that of a uniform guess over K classes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .base import IterativeUnlearner, UnlearnConfig


def gradient_ascent_loss(forget_logits: torch.Tensor, forget_labels: torch.Tensor) -> torch.Tensor:
    """−CE(forget)."""
    return -F.cross_entropy(forget_logits, forget_labels)


@dataclass
class GradientAscentConfig(UnlearnConfig):
    steps: int = 150
    lr: float = 1e-4
    max_grad_norm: float | None = 5.0
    freeze_norm_stats: bool = True  # forget batches only
    stop_at_chance: bool = True


class GradientAscent(IterativeUnlearner):
    name = "ga"
    Config = GradientAscentConfig
    config: GradientAscentConfig
    stopped = False

    def step(self, step: int) -> dict[str, float]:
        if self.stopped:
            return {}
        terms: dict[str, float] = {}

        def loss() -> torch.Tensor:
            x, y = self.forget_batch()
            value = gradient_ascent_loss(self.trainer.model(x), y)
            terms.update(forget_ce=-value.item())
            return value

        self.trainer.optimizer_step(loss, None, self.config.max_grad_norm)
        self.stopped = self.config.stop_at_chance and terms["forget_ce"] >= math.log(self.num_classes)
        return terms

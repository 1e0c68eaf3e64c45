"""Simple baselines: gradient ascent (GA), relabelling (RL) and fine-tuning on the rest (FT)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..relabel import other_class
from .base import GenerativeUnlearner, MethodConfig


@dataclass
class GAConfig(MethodConfig):
    lr: float = 1e-5


class GradientAscent(GenerativeUnlearner):
    """L = −(1/N) Σ_i ℓ_i(forget): push the forget class's noise prediction away, nothing else."""

    name = "ga"
    Config = GAConfig

    def step(self, step: int) -> dict[str, float]:
        terms: dict[str, float] = {}

        def loss() -> torch.Tensor:
            ell = self.noise_loss(*self.forget_batch()).mean()
            terms["forget"] = ell.item()
            return -ell

        self.trainer.optimizer_step(loss, None, self.config.max_grad_norm)
        return terms


@dataclass
class RLConfig(MethodConfig):
    lr: float = 1e-4
    relabel: str = "random"  # random | next
    remain_alpha: float = 1.0
    remain_label_dropout: float = 0.1


class Relabel(GenerativeUnlearner):
    """L = (1/N) Σ_i ℓ_i(x_f, y′) + α L_remain: train the forget images under another class's label."""

    name = "rl"
    Config = RLConfig
    config: RLConfig

    def step(self, step: int) -> dict[str, float]:
        config = self.config
        terms: dict[str, float] = {}

        def loss() -> torch.Tensor:
            x0, y = self.forget_batch()
            y_other = other_class(y, self.objective.num_classes, config.relabel, self.generator, self.forget_classes)
            forget = self.noise_loss(x0, y_other).mean()
            remain = self.noise_loss(*self.remain_batch(), label_dropout=config.remain_label_dropout).mean()
            terms.update(relabelled=forget.item(), remain=remain.item())
            return forget + config.remain_alpha * remain

        self.trainer.optimizer_step(loss, None, config.max_grad_norm)
        return terms


@dataclass
class FTConfig(MethodConfig):
    lr: float = 1e-4
    label_dropout: float = 0.1


class FineTune(GenerativeUnlearner):
    """L = L_remain: keep training on the remaining classes only (catastrophic forgetting as unlearning)."""

    name = "ft"
    Config = FTConfig
    config: FTConfig

    def step(self, step: int) -> dict[str, float]:
        terms: dict[str, float] = {}

        def loss() -> torch.Tensor:
            ell = self.noise_loss(*self.remain_batch(), label_dropout=self.config.label_dropout).mean()
            terms["remain"] = ell.item()
            return ell

        self.trainer.optimizer_step(loss, None, self.config.max_grad_norm)
        return terms

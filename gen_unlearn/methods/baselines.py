"""Simple baselines: gradient ascent (GA), relabelling (RL) and fine-tuning on the rest (FT)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..relabel import other_class
from .base import GenerativeUnlearner, MethodConfig


@dataclass
class GAConfig(MethodConfig):
    # A baseline, not tuned to forget: its 50 default steps leave the class drawn (FA 0.99 on mnist-ddpm class 3,
    # 0.70 on fashion-ddpm class 6; docs/results/defaults_100_samples.csv), and run on it forgets only by wrecking
    # the model (mnist-ddpm, 250 steps: FA 0, RA 0.38; docs/results/long_runs.csv).
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
    # A baseline, not tuned to forget: FA 1.00 / 0.97 after its 50 default steps on the two DDPMs, FA 1.00 and RA
    # 0.49-0.63 on mnist-ddpm at 250-1,000 steps (docs/results/defaults_100_samples.csv, long_runs.csv).
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
    # A baseline that never forgets (FA 1.00 on mnist-ddpm up to 1,000 steps) and costs FID by training on the
    # data-free samples (1.42 / 1.33 × the retrained model's after 50 steps on the two DDPMs; docs/results/).
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

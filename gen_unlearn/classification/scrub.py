"""SCRUB (Kurmanji et al., NeurIPS 2023): a student that moves away from its teacher on the forget set only.

The teacher is the frozen original; the student starts as a copy. With the distillation distance
d(x) = T² · KL(p_teacher^T(x) ‖ p_student^T(x)) (the reference's DistillKL; T = 1 by default, see the config):

  max step (forget batch, the first `max_steps` iterations):  L_max = −mean d(x_f)
  min step (remain batch, every iteration):                   L_min = γ · CE(x_r) + α · mean d(x_r)

γ = 0.99, α = 0.001 as in the reference code. With `forget_until_forgotten` (the default) the max step is
skipped on forget batches already forgotten.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .base import IterativeUnlearner, UnlearnConfig


def distill_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """T² · mean_i KL(softmax(t_i/T) ‖ softmax(s_i/T))."""
    log_student = F.log_softmax(student_logits / temperature, -1)
    log_teacher = F.log_softmax(teacher_logits / temperature, -1)
    return F.kl_div(log_student, log_teacher, reduction="batchmean", log_target=True) * temperature**2


def scrub_max_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """−d on the forget batch: the student moves away from the teacher."""
    return -distill_kl(student_logits, teacher_logits, temperature)


def scrub_min_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    temperature: float,
    ce_weight: float = 0.99,
    kl_weight: float = 0.001,
) -> torch.Tensor:
    """γ·CE + α·d on the remain batch: the student stays accurate and close to the teacher."""
    return ce_weight * F.cross_entropy(student_logits, labels) + kl_weight * distill_kl(
        student_logits, teacher_logits, temperature
    )


@dataclass
class SCRUBConfig(UnlearnConfig):
    lr: float = 0.01
    lr_schedule: str = "cosine"
    max_grad_norm: float | None = 1.0  # the max step's −KL is unbounded: without a clip it runs away
    # T = 1, not the reference's 4, and max steps gated by `forget_until_forgotten` rather than stopped after a
    # fixed count: at T = 4 the student can raise the KL by sharpening its (still correct) prediction, and on
    # Fashion-MNIST class 3 it forgot on one seed of three (FA 58 ± 51%); at T = 1 the max step lowers the
    # forgotten class's probability (FA 0.2%, TA 0.7 points under retraining).
    temperature: float = 1.0
    max_steps: int | None = None  # iterations that may start with a max step (None: all)
    forget_until_forgotten: bool = True
    ce_weight: float = 0.99  # γ
    kl_weight: float = 0.001  # α


class SCRUB(IterativeUnlearner):
    name = "scrub"
    Config = SCRUBConfig
    config: SCRUBConfig

    def prepare(self) -> None:
        self.teacher = self.frozen_copy()

    def step(self, step: int) -> dict[str, float]:
        config = self.config
        terms: dict[str, float] = {}
        if config.max_steps is None or step < config.max_steps:
            x, y = self.forget_batch()

            def max_loss() -> torch.Tensor:
                with torch.no_grad():
                    teacher_logits = self.teacher(x)
                value = scrub_max_loss(self.trainer.model(x), teacher_logits, config.temperature)
                terms["forget_kl"] = -value.item()
                return value

            if self.remembers_batch(x, y):
                self.trainer.optimizer_step(max_loss, None, config.max_grad_norm)

        def min_loss() -> torch.Tensor:
            x, y = self.remain_batch()
            with torch.no_grad():
                teacher_logits = self.teacher(x)
            value = scrub_min_loss(
                self.trainer.model(x), teacher_logits, y, config.temperature, config.ce_weight, config.kl_weight
            )
            terms["remain"] = value.item()
            return value

        self.trainer.optimizer_step(min_loss, None, config.max_grad_norm)
        return terms

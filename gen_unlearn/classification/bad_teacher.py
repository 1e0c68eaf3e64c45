"""Bad teacher (Chundawat et al., AAAI 2023): distil from a competent and an incompetent teacher.

The student starts as the original. On mixed batches, each sample's target is the competent teacher
(the frozen original) for remain samples and the incompetent teacher (a randomly initialised network
of the same architecture) for forget samples:

    L = mean_i KL(softmax(t_i / T) ‖ softmax(s_i / T)),   t_i = bad(x_i) if x_i ∈ D_f else good(x_i)

A randomly initialised network predicts nearly uniformly, so the student's arg-max on D_f, hence FA, is
decided by small margins: in scripts/benchmark_classification.py, Fashion-MNIST class 3 ends at FA 1.1% and
0.4% on two seeds and 46.6% on the third.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .base import IterativeUnlearner, UnlearnConfig, batch_accuracy
from .models import reinitialize


def bad_teacher_loss(
    student_logits: torch.Tensor,
    good_logits: torch.Tensor,
    bad_logits: torch.Tensor,
    is_forget: torch.Tensor,
    temperature: float = 1.0,
) -> torch.Tensor:
    """mean_i KL(p_teacher(i) ‖ p_student), the teacher of sample i being the bad one where `is_forget`."""
    teacher = torch.where(is_forget[:, None], bad_logits, good_logits)
    return F.kl_div(
        F.log_softmax(student_logits / temperature, -1),
        F.log_softmax(teacher / temperature, -1),
        reduction="batchmean",
        log_target=True,
    )


@dataclass
class BadTeacherConfig(UnlearnConfig):
    optimizer: str = "adamw"
    steps: int = 50
    lr: float = 1e-3
    weight_decay: float = 0.0
    temperature: float = 1.0


class BadTeacher(IterativeUnlearner):
    name = "bad-teacher"
    Config = BadTeacherConfig
    config: BadTeacherConfig

    def prepare(self) -> None:
        self.good_teacher = self.frozen_copy()
        self.bad_teacher = reinitialize(self.frozen_copy(), self.seed + 3).eval()

    def step(self, step: int) -> dict[str, float]:
        terms: dict[str, float] = {}

        def loss() -> torch.Tensor:
            (x_r, _), (x_f, y_f) = self.remain_batch(), self.forget_batch()
            x = torch.cat([x_r, x_f])
            is_forget = torch.arange(len(x), device=x.device) >= len(x_r)
            with torch.no_grad():
                good, bad = self.good_teacher(x), self.bad_teacher(x)
            student = self.trainer.model(x)
            forget_acc = batch_accuracy(student[is_forget].detach(), y_f)
            if not self.remembers(forget_acc):  # forgotten: distil the remain samples only
                keep = ~is_forget
                student, good, bad, is_forget = student[keep], good[keep], bad[keep], is_forget[keep]
            value = bad_teacher_loss(student, good, bad, is_forget, self.config.temperature)
            terms.update(kl=value.item(), forget_acc=forget_acc)
            return value

        self.trainer.optimizer_step(loss, None, self.config.max_grad_norm)
        return terms

"""SalUn: saliency unlearning (Fan et al., ICLR 2024), generation variant.

Mask m: the `mask_fraction` of parameters with the largest |Σ_batches ∇ L_forget| (one threshold over
the whole model), computed once at the initial model. Each step, with y′ another class than y_f:

  L = (1/N) Σ_i ‖ε_θ(x_t, t, y_f) − sg[ε_θ(x_t, t, y′)]‖² + α · L_remain,     θ ← Adam(θ, m ⊙ ∇L)

The reference relabels to (y_f + 1) mod K and uses α = 1e-3 on a remain loss summed over pixels;
our losses are means over dimensions, so α = 1 is the comparable default.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..relabel import other_class
from ..saliency import gradient_topk_mask, summed_gradients
from .base import GenerativeUnlearner, MethodConfig
from .cache import cached_tensors


@dataclass
class SalUnConfig(MethodConfig):
    lr: float = 1e-5
    mask_fraction: float | None = 0.5  # None = no mask
    saliency_batches: int = 8
    relabel: str = "next"  # next | random
    remain_alpha: float = 1.0
    remain_label_dropout: float = 0.1


class SalUn(GenerativeUnlearner):
    name = "salun"
    default_steps = 1000
    Config = SalUnConfig
    config: SalUnConfig

    def prepare(self) -> None:
        """The gradient top-k mask, computed once at the initial model (and cached)."""
        self.mask = None
        if self.config.mask_fraction is not None:
            self.mask = cached_tensors(self, "saliency-mask", self.saliency_mask)

    def saliency_mask(self) -> dict[str, torch.Tensor]:
        def batch_loss(_: object) -> torch.Tensor:
            x0, y = self.forget_batch()
            return self.objective.loss(x0, y, generator=self.generator).mean()

        batches = range(self.config.saliency_batches)
        saliency = summed_gradients(self.objective.trainable, batches, batch_loss)
        return gradient_topk_mask(saliency, self.config.mask_fraction)

    def step(self, step: int) -> dict[str, float]:
        config = self.config
        terms: dict[str, float] = {}

        def loss() -> torch.Tensor:
            x0, y = self.forget_batch()
            x_t, t, _ = self.objective.add_noise(x0, generator=self.generator)
            y_other = other_class(y, self.objective.num_classes, config.relabel, self.generator, self.forget_classes)
            with torch.no_grad():
                target = self.objective.predict_noise(x_t, t, y_other)
            forget = (self.objective.predict_noise(x_t, t, y).float() - target.float()).pow(2).mean()
            remain = self.noise_loss(*self.remain_batch(), label_dropout=config.remain_label_dropout).mean()
            terms.update(forget=forget.item(), remain=remain.item())
            return forget + config.remain_alpha * remain

        self.trainer.optimizer_step(loss, self.mask, config.max_grad_norm)
        return terms

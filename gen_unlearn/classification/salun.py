"""SalUn for classifiers (Fan et al., ICLR 2024): random labelling restricted to salient weights.

The mask keeps the `mask_fraction` (20%) of parameters with the largest |∇ CE(D_f)| (one threshold over
the whole model, gradient summed over `saliency_batches` forget batches at the original model). The
loss is RL's, CE on the forget set with random wrong labels + CE on the remain set, and only masked
parameters move (masked SGD). Mask and saliency come from gen_unlearn.saliency.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..saliency import gradient_topk_mask, summed_gradients
from .random_labels import RandomLabels, RandomLabelsConfig


@dataclass
class SalUnConfig(RandomLabelsConfig):
    steps: int = 100
    lr: float = 0.005
    mask_fraction: float = 0.2
    saliency_batches: int = 4


class SalUn(RandomLabels):
    name = "salun"
    Config = SalUnConfig
    config: SalUnConfig

    def prepare(self) -> None:
        model = self.model
        model.eval()

        def batch_loss(_: object) -> torch.Tensor:
            x, y = self.forget_batch()
            return F.cross_entropy(model(x), y)

        saliency = summed_gradients(model, range(self.config.saliency_batches), batch_loss)
        self.mask = gradient_topk_mask(saliency, self.config.mask_fraction)

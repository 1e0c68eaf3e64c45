"""Selective Amnesia (Heng & Soh, NeurIPS 2023), the class-forgetting variant for conditional DDPMs.

  L = L_surrogate + γ · L_replay + λ · Σ_i F_i (θ_i − θ*_i)²

- surrogate: the forget label paired with images of uniform noise in [−1, 1] (q(x | y_f));
- replay: the original model's own samples of the other classes (generated once, cached);
- EWC: F is the Fisher diagonal of the original model on its own samples of every class, each
  sample's gradient taken on its loss summed over the diffusion timesteps (computed in chunks).

As in the reference, the losses are summed over pixels (λ = 10 is on that scale) and no label dropout
is used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from ..data import RandomBatches
from ..replay import generated_samples
from ..saliency import trainable_parameters
from .base import GenerativeUnlearner, MethodConfig
from .masks import cached_tensors


@dataclass
class SAConfig(MethodConfig):
    lr: float = 1e-4
    gamma: float = 1.0  # replay weight
    ewc_lambda: float = 10.0
    replay_per_class: int = 500
    fisher_samples: int = 50
    fisher_timesteps: int | None = None  # None: all T timesteps; else that many, evenly spaced (sum rescaled)
    fisher_chunk: int = 250


class SelectiveAmnesia(GenerativeUnlearner):
    name = "sa"
    default_steps = 10000
    Config = SAConfig
    config: SAConfig

    def prepare(self) -> None:
        config, pipeline = self.config, self.denoiser.pipeline
        self.image_shape = tuple(self.data.remain_images.shape[1:])
        remain_classes = [c for c in range(self.denoiser.num_classes) if c != self.forget_class]
        replay_images, replay_labels = generated_samples(
            pipeline, remain_classes, config.replay_per_class, seed=self.training.seed, fingerprint=self.fingerprint
        )
        self.remain_batches = RandomBatches(
            replay_images, replay_labels, self.training.batch_size, self.training.seed + 1
        )
        self.fisher = cached_tensors(self, "fisher", self._fisher)
        self.initial = {n: p.detach().clone() for n, p in trainable_parameters(self.denoiser.model).items()}

    def _fisher(self) -> dict[str, torch.Tensor]:
        config, denoiser = self.config, self.denoiser
        per_class = math.ceil(config.fisher_samples / denoiser.num_classes)
        images, labels = generated_samples(
            denoiser.pipeline,
            range(denoiser.num_classes),
            per_class,
            seed=self.training.seed + 7,
            fingerprint=self.fingerprint,
        )
        T = denoiser.num_train_timesteps
        steps = config.fisher_timesteps or T
        timesteps = torch.linspace(0, T - 1, steps).round().long()
        scale = T / steps
        params = trainable_parameters(denoiser.model)
        fisher = {n: torch.zeros_like(p, dtype=torch.float32) for n, p in params.items()}
        device = self.trainer.device if self.trainer else torch.device("cpu")
        for i in tqdm(range(len(labels)), desc="SA Fisher information", disable=not self.training.progress):
            x0 = denoiser.encode(images[i : i + 1].to(device), generator=self.generator)
            dims = x0[0].numel()
            denoiser.model.zero_grad(set_to_none=True)
            for chunk in timesteps.split(config.fisher_chunk):
                t = chunk.to(device)
                xs = x0.expand(len(t), *x0.shape[1:])
                ys = labels[i : i + 1].to(device).expand(len(t))
                (scale * dims * denoiser.loss(xs, ys, t=t, generator=self.generator).sum()).backward()
            for n, p in params.items():
                if p.grad is not None:
                    fisher[n] += p.grad.detach().float().pow(2)
        denoiser.model.zero_grad(set_to_none=True)
        return {n: f / len(labels) for n, f in fisher.items()}

    def ewc_penalty(self) -> torch.Tensor:
        params = trainable_parameters(self.trainer.unwrapped_model)
        return sum(
            (self.fisher[n].to(p.device) * (p - self.initial[n].to(p.device)).pow(2)).sum() for n, p in params.items()
        )

    def step(self, step: int) -> dict[str, float]:
        config = self.config
        terms: dict[str, float] = {}

        def loss() -> torch.Tensor:
            x_r, y_r = self.remain_batch()
            n = len(y_r)
            noise_images = torch.rand((n, *self.image_shape), generator=self.generator) * 2 - 1
            x_f = self.denoiser.encode(noise_images.to(x_r.device), generator=self.generator)
            y_f = torch.full_like(y_r, self.forget_class)
            dims = x_f[0].numel()
            surrogate = dims * self.denoiser.loss(x_f, y_f, generator=self.generator).mean()
            replay = dims * self.denoiser.loss(x_r, y_r, generator=self.generator).mean()
            ewc = self.ewc_penalty()
            terms.update(surrogate=surrogate.item(), replay=replay.item(), ewc=ewc.item())
            return surrogate + config.gamma * replay + config.ewc_lambda * ewc

        self.trainer.optimizer_step(loss, None, config.max_grad_norm)
        return terms

"""One training-side interface over the UNet (DDPM) and DiT pipelines.

Every generative unlearner is written against `DenoisingObjective`: it draws (t, ε), noises x0 with the
pipeline's own training noise schedule, and returns the per-sample noise-prediction loss
ℓ(θ; x, y) = ‖ε − ε_θ(x_t, t, y)‖² (mean over dimensions). Latent pipelines encode images through their
VAE first; learned-sigma outputs are dropped; label dropout happens here, explicitly, and never inside
the network (DiT's per-block embedders are switched off by the pipeline).
"""

from __future__ import annotations

import torch
from diffusers import DDPMScheduler

from pipelines import ClassConditionalPipeline


class DenoisingObjective:
    """The noise-prediction loss ℓ(θ; x, y) of a pipeline's network, with its noising, labels and encoder."""

    def __init__(self, pipeline: ClassConditionalPipeline):
        self.pipeline = pipeline
        config = pipeline.scheduler.config
        if config.get("prediction_type", "epsilon") != "epsilon":
            raise ValueError(
                f"the scheduler predicts {config['prediction_type']!r}: "
                "gen_unlearn trains epsilon-prediction models only"
            )
        # The forward (noising) process the model was trained with, whichever sampler the pipeline uses now.
        self.noise_schedule = DDPMScheduler.from_config(config)
        # What forward passes go through: the pipeline's own module, or a training loop's wrapped copy of it.
        self.forward_module: torch.nn.Module | None = None

    @property
    def trainable(self) -> torch.nn.Module:
        """The network whose weights are trained: the pipeline's UNet or transformer (`pipeline.denoiser`)."""
        return self.pipeline.denoiser

    @property
    def num_classes(self) -> int:
        return self.pipeline.num_classes

    @property
    def null_class_id(self) -> int:
        return self.pipeline.null_class_id

    @property
    def num_train_timesteps(self) -> int:
        return self.noise_schedule.config.num_train_timesteps

    @torch.no_grad()
    def encode(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Images in [-1, 1] -> x0 in the denoiser's space (the VAE latent for DiT)."""
        return self.pipeline.encode(images, generator=generator)

    def predict_noise(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor,
        y: torch.Tensor,
        guidance: float | None = None,
        model: torch.nn.Module | None = None,
    ) -> torch.Tensor:
        """ε_θ(x_t, t, y), or with `guidance` w the guided ε_θ(x_t, t, ∅) + w(ε_θ(x_t, t, y) − ε_θ(x_t, t, ∅)).
        `model`: another network of the same layout (a frozen teacher); default the trained one."""
        model = self.forward_module if model is None else model
        if guidance is None:
            return self.pipeline.predict_noise(x_t, t, y, model=model)
        return self.pipeline.guided_noise(x_t, t, y, guidance, model=model)

    def drop_labels(self, y: torch.Tensor, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
        """Replace each label by the null label with probability p (classifier-free guidance training)."""
        if p <= 0:
            return y
        drop = torch.rand(y.shape, generator=generator, device=generator.device if generator else "cpu") < p
        return torch.where(drop.to(y.device), torch.full_like(y, self.null_class_id), y)

    def sample_timesteps(self, n: int, device: torch.device, generator: torch.Generator | None = None) -> torch.Tensor:
        gen_device = generator.device if generator else "cpu"
        return torch.randint(0, self.num_train_timesteps, (n,), generator=generator, device=gen_device).to(device)

    def add_noise(
        self,
        x0: torch.Tensor,
        t: torch.Tensor | None = None,
        noise: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x_t = √ᾱ_t x0 + √(1 − ᾱ_t) ε with t ~ U{0, …, T−1} and ε ~ N(0, I) unless given; returns (x_t, t, ε)."""
        if t is None:
            t = self.sample_timesteps(len(x0), x0.device, generator)
        if noise is None:
            noise = torch.randn(x0.shape, generator=generator, device=generator.device if generator else "cpu")
            noise = noise.to(x0.device, x0.dtype)
        return self.noise_schedule.add_noise(x0, noise, t), t, noise

    def loss(
        self,
        x0: torch.Tensor,
        y: torch.Tensor,
        t: torch.Tensor | None = None,
        noise: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        teacher: torch.nn.Module | None = None,
        guidance: float | None = None,
    ) -> torch.Tensor:
        """Per-sample ℓ_i = mean over dimensions of (ε − ε_θ(x_t, t, y))², shape (N,). x0 is already encoded.

        With a `teacher` (a frozen copy of the denoiser) the target is its prediction ε_θ*(x_t, t, y) on the same
        x_t instead of ε (distillation): the loss is 0 where the network predicts what the teacher does. With a
        teacher and a `guidance` scale w, both sides are the guided predictions (what a sampler at scale w uses).
        """
        if guidance is not None and teacher is None:
            raise ValueError("guidance compares guided predictions: it needs a teacher (the target ε is not guided)")
        x_t, t, noise = self.add_noise(x0, t, noise, generator)
        eps = self.predict_noise(x_t, t, y, guidance)
        target = noise
        if teacher is not None:
            with torch.no_grad():
                target = self.predict_noise(x_t, t, y, guidance, model=teacher)
        return (eps.float() - target.float()).pow(2).flatten(1).mean(1)

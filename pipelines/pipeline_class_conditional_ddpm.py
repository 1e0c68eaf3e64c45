"""Class-conditional DDPM: a `UNet2DModel` with K+1 class embeddings (index K = null) and classifier-free guidance."""

from __future__ import annotations

import torch
from diffusers import UNet2DModel
from diffusers.schedulers import KarrasDiffusionSchedulers

from .class_conditional import ClassConditionalPipeline


class ClassConditionalDDPMPipeline(ClassConditionalPipeline):
    """Pixel-space class-conditional diffusion with classifier-free guidance.

    Args:
        unet: a `UNet2DModel` with `num_class_embeds = K + 1`; embedding K is the null label.
        scheduler: any diffusers scheduler (DDPM, DDIM, DPM-Solver, ...); swap with `from_config`.
        id2label: class id -> name ("3": "three"), saved in `model_index.json`.
        default_guidance_scale, default_num_inference_steps: the sampler settings used when a call
            does not name them, saved with the pipeline.
    """

    model_cpu_offload_seq = "unet"

    def __init__(
        self,
        unet: UNet2DModel,
        scheduler: KarrasDiffusionSchedulers,
        id2label: dict[str, str] | None = None,
        default_guidance_scale: float = 2.0,
        default_num_inference_steps: int = 50,
    ):
        super().__init__()
        if unet.config.num_class_embeds is None or unet.config.num_class_embeds < 2:
            raise ValueError(
                "this UNet has no class embedding: build UNet2DModel with num_class_embeds = number of classes + 1"
            )
        self.register_modules(unet=unet, scheduler=scheduler)
        self.register_sampling_settings(id2label, default_guidance_scale, default_num_inference_steps)

    @property
    def denoiser(self) -> UNet2DModel:
        return self.unet

    @property
    def num_classes(self) -> int:
        return self.unet.config.num_class_embeds - 1

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        size = self.unet.config.sample_size
        height, width = (size, size) if isinstance(size, int) else tuple(size)
        return (self.unet.config.in_channels, height, width)

    def predict_noise(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor,
        class_labels: torch.Tensor,
        model: torch.nn.Module | None = None,
    ) -> torch.Tensor:
        eps = (self.unet if model is None else model)(sample, timestep, class_labels=class_labels).sample
        return eps[:, : self.unet.config.in_channels]

"""Class-conditional latent DiT for any number of classes, in the diffusers `DiTPipeline` layout.

Differences from `diffusers.DiTPipeline`: the null label is the transformer's `num_embeds_ada_norm`
(1000 only for ImageNet), class names are saved with the pipeline, and the transformer's per-block
label dropout never fires while predicting noise (label dropout belongs to the training loss).
A diffusers `DiTPipeline` directory such as facebook/DiT-XL-2-256 loads as it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from diffusers import AutoencoderKL, DiTTransformer2DModel
from diffusers.models.embeddings import LabelEmbedding
from diffusers.schedulers import KarrasDiffusionSchedulers

from .class_conditional import ClassConditionalPipeline


@contextmanager
def label_dropout_disabled(transformer: torch.nn.Module) -> Iterator[None]:
    """Switch off the label dropout that every DiT block's embedder applies in train mode."""
    embedders = [m for m in transformer.modules() if isinstance(m, LabelEmbedding)]
    saved = [m.dropout_prob for m in embedders]
    for m in embedders:
        m.dropout_prob = 0.0
    try:
        yield
    finally:
        for m, p in zip(embedders, saved, strict=True):
            m.dropout_prob = p


class ClassConditionalDiTPipeline(ClassConditionalPipeline):
    """Latent class-conditional DiT: transformer + VAE + scheduler, K = `transformer.config.num_embeds_ada_norm`.

    Args:
        transformer: a `DiTTransformer2DModel` (a legacy `Transformer2DModel` config with `ada_norm_zero` loads as one).
        vae: the `AutoencoderKL` whose latents the transformer denoises; `scaling_factor` from its config.
        scheduler: any diffusers scheduler.
        id2label: class id -> name; comma-separated synonyms are allowed, as in DiT-XL-2's `model_index.json`.
        default_guidance_scale, default_num_inference_steps: sampler settings used when a call does not name them.
    """

    model_cpu_offload_seq = "transformer->vae"
    # Images the VAE encodes or decodes at once: a 256×256 SD VAE decode of 16 images takes a few GiB.
    vae_batch_size = 16

    def __init__(
        self,
        transformer: DiTTransformer2DModel,
        vae: AutoencoderKL,
        scheduler: KarrasDiffusionSchedulers,
        id2label: dict[str, str] | None = None,
        default_guidance_scale: float = 4.0,
        default_num_inference_steps: int = 50,
    ):
        super().__init__()
        if transformer.config.get("num_embeds_ada_norm") is None:
            raise ValueError(
                "this transformer is not class-conditional: it needs num_embeds_ada_norm = number of classes"
            )
        self.register_modules(transformer=transformer, vae=vae, scheduler=scheduler)
        self.register_sampling_settings(id2label, default_guidance_scale, default_num_inference_steps)

    @property
    def denoiser(self) -> DiTTransformer2DModel:
        return self.transformer

    @property
    def num_classes(self) -> int:
        return int(self.transformer.config.num_embeds_ada_norm)

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        size = self.transformer.config.sample_size
        return (self.transformer.config.in_channels, size, size)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        factor = 2 ** (len(self.vae.config.block_out_channels) - 1)
        size = self.transformer.config.sample_size * factor
        return (self.vae.config.in_channels, size, size)

    @property
    def learns_sigma(self) -> bool:
        """True when the transformer also outputs variance channels (DiT-XL-2), which sampling drops."""
        return self.transformer.config.out_channels == 2 * self.transformer.config.in_channels

    def predict_noise(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor,
        class_labels: torch.Tensor,
        model: torch.nn.Module | None = None,
    ) -> torch.Tensor:
        model = self.transformer if model is None else model
        with label_dropout_disabled(model):  # the module called (a teacher, a wrapper): its own embedders
            out = model(sample, timestep=timestep, class_labels=class_labels).sample
        return out[:, : self.transformer.config.in_channels]

    def encode(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Images in [-1, 1] -> scaled latents, the space the transformer denoises (`vae_batch_size` at a time)."""
        latents = [
            self.vae.encode(chunk.to(self.vae.dtype)).latent_dist.sample(generator)
            for chunk in images.split(self.vae_batch_size)
        ]
        return torch.cat(latents) * self.vae.config.scaling_factor

    def decode(self, sample: torch.Tensor) -> torch.Tensor:
        """Scaled latents -> images in [-1, 1] (`vae_batch_size` at a time)."""
        latents = sample.to(self.vae.dtype) / self.vae.config.scaling_factor
        return torch.cat([self.vae.decode(chunk).sample for chunk in latents.split(self.vae_batch_size)])

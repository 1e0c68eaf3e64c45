"""What the DDPM and DiT class-conditional pipelines share: labels, classifier-free guidance, the sampling loop.

A subclass says how to predict noise for (x_t, t, y) and how to turn the final sample into images;
everything else (class names, the null label, guidance, schedulers, output types) lives here once.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from diffusers import DiffusionPipeline, ImagePipelineOutput
from diffusers.utils.torch_utils import randn_tensor

ClassLabel = int | str
ClassLabels = ClassLabel | Sequence[ClassLabel] | torch.Tensor


def classifier_free_guidance(eps_cond: torch.Tensor, eps_uncond: torch.Tensor, scale: float) -> torch.Tensor:
    """ε = ε_u + s·(ε_c − ε_u): s = 1 is the plain conditional model, s = 0 the unconditional one."""
    return eps_uncond + scale * (eps_cond - eps_uncond)


class ClassConditionalPipeline(DiffusionPipeline):
    """Base class of class-conditional pipelines with K classes and a null (unconditional) label K."""

    def register_sampling_settings(
        self, id2label: dict | None, default_guidance_scale: float, default_num_inference_steps: int
    ) -> None:
        """Save the class names and default sampler settings with the pipeline (`model_index.json`)."""
        self.register_to_config(
            id2label={str(k): v for k, v in id2label.items()} if id2label else None,
            default_guidance_scale=float(default_guidance_scale),
            default_num_inference_steps=int(default_num_inference_steps),
        )

    @property
    def denoiser(self) -> torch.nn.Module:
        """The network that predicts noise: the module that unlearning updates."""
        raise NotImplementedError

    @property
    def num_classes(self) -> int:
        raise NotImplementedError

    @property
    def null_class_id(self) -> int:
        """The label that asks for an unconditional prediction (classifier-free guidance)."""
        return self.num_classes

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of what the denoiser works on."""
        raise NotImplementedError

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of the images it draws: what training data is fitted to."""
        return self.latent_shape

    @property
    def class_names(self) -> list[str]:
        id2label = self.config.get("id2label") or {}
        return [
            str(id2label.get(str(i), id2label.get(i, str(i)))).split(",")[0].strip() for i in range(self.num_classes)
        ]

    @property
    def labels(self) -> dict[str, int]:
        """Every name of every class (comma-separated synonyms included) -> class id, as `DiTPipeline.labels`."""
        id2label = self.config.get("id2label") or {}
        names: dict[str, int] = {}
        for key, value in id2label.items():
            for name in str(value).split(","):
                names[name.strip()] = int(key)
        return names

    def class_id(self, label: ClassLabel) -> int:
        """A class index or name -> class index, with a one-line error naming the valid choices."""
        if isinstance(label, str):
            if label.strip().lstrip("-").isdigit():
                return self.class_id(int(label))
            names = {name.lower(): i for name, i in self.labels.items()}
            if label.strip().lower() not in names:
                shown = ", ".join(self.class_names[:20]) + (", ..." if self.num_classes > 20 else "")
                raise ValueError(
                    f"unknown class name {label!r}: use an index 0..{self.num_classes - 1} or one of: {shown}"
                )
            return names[label.strip().lower()]
        label = int(label)
        if not 0 <= label < self.num_classes:
            raise ValueError(
                f"class {label} is out of range: this pipeline has {self.num_classes} classes, "
                f"use 0..{self.num_classes - 1}"
            )
        return label

    def get_label_ids(self, label: str | list[str]) -> list[int]:
        """Class names -> ids (the `DiTPipeline` method of the same name)."""
        return [self.class_id(name) for name in ([label] if isinstance(label, str) else label)]

    def _class_label_tensor(self, class_labels: ClassLabels) -> torch.Tensor:
        if isinstance(class_labels, torch.Tensor):
            ids = [self.class_id(int(c)) for c in class_labels.reshape(-1).tolist()]
        elif isinstance(class_labels, (int, str)):
            ids = [self.class_id(class_labels)]
        else:
            ids = [self.class_id(c) for c in class_labels]
        if not ids:
            raise ValueError("class_labels is empty: pass at least one class index or name")
        return torch.tensor(ids, device=self._execution_device, dtype=torch.long)

    def predict_noise(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor,
        class_labels: torch.Tensor,
        model: torch.nn.Module | None = None,
    ) -> torch.Tensor:
        """ε_θ(x_t, t, y) with the denoiser in whatever mode it is in (learned-sigma channels dropped).

        `model` replaces the pipeline's own denoiser for this call: a training loop passes its wrapped
        (for example distributed) copy of the same module so that gradients synchronise.
        """
        raise NotImplementedError

    def guided_noise(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor,
        class_labels: torch.Tensor,
        guidance_scale: float,
        model: torch.nn.Module | None = None,
    ) -> torch.Tensor:
        """Classifier-free guided ε; one batched call for the conditional and the null branch (`model`: as in
        `predict_noise`)."""
        if guidance_scale == 1.0:
            return self.predict_noise(sample, timestep, class_labels, model=model)
        null = torch.full_like(class_labels, self.null_class_id)
        eps = self.predict_noise(
            torch.cat([sample, sample]), torch.cat([timestep, timestep]), torch.cat([class_labels, null]), model=model
        )
        eps_cond, eps_uncond = eps.chunk(2)
        return classifier_free_guidance(eps_cond, eps_uncond, guidance_scale)

    def encode(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Images in [-1, 1] -> the space the denoiser works on (pixel pipelines: the images themselves)."""
        return images.to(self.denoiser.dtype)

    def decode(self, sample: torch.Tensor) -> torch.Tensor:
        """Final sample -> images in [-1, 1]."""
        return sample

    @torch.no_grad()
    def __call__(
        self,
        class_labels: ClassLabels,
        guidance_scale: float | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
        num_inference_steps: int | None = None,
        output_type: str = "pil",
        return_dict: bool = True,
    ) -> ImagePipelineOutput | tuple:
        """Sample one image per entry of `class_labels` (indices or class names).

        `guidance_scale` and `num_inference_steps` default to the values saved with the pipeline
        (`default_guidance_scale`, `default_num_inference_steps`). `output_type` is "pil", "np" (float
        HWC in [0, 1]) or "pt" (float NCHW in [0, 1]).
        """
        if output_type not in ("pil", "np", "pt"):
            raise ValueError(f"output_type {output_type!r} is not supported: use 'pil', 'np' or 'pt'")
        guidance_scale = float(
            self.config.get("default_guidance_scale", 1.0) if guidance_scale is None else guidance_scale
        )
        if num_inference_steps is None:
            num_inference_steps = self.config.get("default_num_inference_steps", 50)
        if int(num_inference_steps) < 1:
            raise ValueError(f"num_inference_steps must be at least 1, got {num_inference_steps}")
        num_inference_steps = int(num_inference_steps)
        labels = self._class_label_tensor(class_labels)
        modules = [m for m in self.components.values() if isinstance(m, torch.nn.Module)]
        was_training = [m.training for m in modules]
        for module in modules:
            module.eval()
        try:
            sample = randn_tensor(
                (len(labels), *self.latent_shape),
                generator=generator,
                device=self._execution_device,
                dtype=self.denoiser.dtype,
            )
            sample = sample * self.scheduler.init_noise_sigma
            self.scheduler.set_timesteps(num_inference_steps, device=self._execution_device)
            for t in self.progress_bar(self.scheduler.timesteps):
                model_input = self.scheduler.scale_model_input(sample, t)
                timestep = t.expand(len(labels)) if torch.is_tensor(t) else torch.full((len(labels),), t)
                eps = self.guided_noise(model_input, timestep.to(self._execution_device), labels, guidance_scale)
                sample = self.scheduler.step(eps, t, sample, generator=generator).prev_sample
            images = (self.decode(sample).float() / 2 + 0.5).clamp(0, 1)
        finally:
            for module, mode in zip(modules, was_training, strict=True):
                module.train(mode)
        if output_type == "pt":
            out = images.cpu()
        else:
            out = images.cpu().permute(0, 2, 3, 1).numpy()
            if output_type == "pil":
                out = self.numpy_to_pil(out)
        self.maybe_free_model_hooks()
        return ImagePipelineOutput(images=out) if return_dict else (out,)


def images_to_uint8(images: torch.Tensor | np.ndarray) -> np.ndarray:
    """Float images in [0, 1] (NCHW tensor or NHWC array) -> uint8 NHWC array."""
    if isinstance(images, torch.Tensor):
        images = images.permute(0, 2, 3, 1).cpu().numpy()
    return (np.asarray(images) * 255).round().clip(0, 255).astype(np.uint8)

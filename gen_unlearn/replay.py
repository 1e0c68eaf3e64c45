"""The pipeline's own samples as training data: data-free forget/remain sets and SA's generative replay.

Samples are generated once per (pipeline weights, classes, count, sampler settings, seed) and cached
as safetensors under `$GEN_UNLEARN_CACHE/samples/`, so a second erase of the same pipeline reuses them.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from safetensors.torch import load_file, save_file

from pipelines import ClassConditionalPipeline

from .data import ForgetRemainSets, cache_dir
from .evaluation.sampling import sample_images
from .io import atomic_path, fingerprint_pipeline, settings_key


def generated_samples(
    pipeline: ClassConditionalPipeline,
    classes: Sequence[int],
    num_per_class: int,
    seed: int = 0,
    guidance_scale: float | None = None,
    num_inference_steps: int | None = None,
    batch_size: int = 250,
    fingerprint: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """`num_per_class` samples of each class as float images in [-1, 1] (N, C, H, W) and labels (N,), cached."""
    fingerprint = fingerprint or fingerprint_pipeline(pipeline)
    key = settings_key(
        classes=sorted(int(c) for c in classes),
        num_per_class=num_per_class,
        seed=seed,
        guidance_scale=guidance_scale,
        num_inference_steps=num_inference_steps,
        scheduler=type(pipeline.scheduler).__name__,
    )
    path = cache_dir() / "samples" / fingerprint[:16] / f"{key}.safetensors"
    if path.exists():
        cached = load_file(path)
        return cached["images"].float() / 127.5 - 1.0, cached["labels"]
    images, labels = sample_images(
        pipeline,
        sorted(int(c) for c in classes),
        num_per_class,
        guidance_scale,
        num_inference_steps,
        seed=seed,
        batch_size=batch_size,
        desc="generating training samples",
    )
    images_u8 = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    labels_t = torch.from_numpy(labels)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        save_file({"images": images_u8, "labels": labels_t}, str(tmp))
    return images_u8.float() / 127.5 - 1.0, labels_t


def data_free_forget_remain(
    pipeline: ClassConditionalPipeline, forget_class: int, num_per_class: int = 100, seed: int = 0, **sampler
) -> ForgetRemainSets:
    """Forget and remain sets drawn from the pipeline itself: for users who have the model but not its data."""
    forget_class = pipeline.class_id(forget_class)
    images, labels = generated_samples(pipeline, range(pipeline.num_classes), num_per_class, seed, **sampler)
    is_forget = labels == forget_class
    return ForgetRemainSets(
        images[is_forget],
        labels[is_forget],
        images[~is_forget],
        labels[~is_forget],
        forget_class,
        f"data-free:{num_per_class}-per-class",
    )

"""Sampling many images (training data, replay, evaluation): batched, seeded per sample, with a progress bar."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from pipelines import ClassConditionalPipeline, images_to_uint8

from .io import atomic_path


def sample_generators(seed: int, indices: Sequence[int], device: str | torch.device = "cpu") -> list[torch.Generator]:
    """One generator per sample, seeded by (seed, sample index): sample i is the same whatever the batch size,
    and the same across pipelines, so that before/after grids line up."""
    return [torch.Generator(device).manual_seed(sample_seed(seed, int(i))) for i in indices]


def sample_seed(seed: int, index: int) -> int:
    """The generator seed of sample `index` under `seed`, within 32 bits.

    torch's CPU generator keeps only the low 32 bits of a seed, so the seed cannot sit above them (it once
    did, and every seed drew seed 0's samples on the CPU). The index (< 2^32) XOR a 32-bit multiplicative
    hash of the seed: one-to-one over the indices of a seed, and seed 0 leaves the index as it is.
    """
    return (index ^ (seed * 0x9E3779B1)) & 0xFFFF_FFFF


def sample_index(class_id: int, j: int) -> int:
    """The generator index of sample j of a class: independent of how many samples are drawn."""
    return (class_id << 20) + j


DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def sampling_autocast(pipeline: ClassConditionalPipeline, dtype: str = "fp32") -> contextlib.AbstractContextManager:
    """Sample in `fp32`, or in half precision (`bf16`, `fp16`) through autocast: the weights stay as they are."""
    if dtype not in DTYPES:
        raise ValueError(f"sampling dtype {dtype!r}: use one of {', '.join(DTYPES)}")
    device = pipeline._execution_device
    if dtype == "fp32":  # also inside a training loop's autocast: the samples are what their dtype says
        return torch.autocast(device.type, enabled=False)
    if dtype == "fp16" and device.type != "cuda":
        raise ValueError("fp16 sampling needs a GPU: use --sampling-dtype bf16 or fp32 on the CPU")
    return torch.autocast(device.type, dtype=DTYPES[dtype])


def sample_images(
    pipeline: ClassConditionalPipeline,
    class_labels: Sequence[int] | int,
    num_per_class: int = 1,
    guidance_scale: float | None = None,
    num_inference_steps: int | None = None,
    seed: int = 0,
    batch_size: int = 250,
    progress: bool = True,
    desc: str = "sampling",
    dtype: str = "fp32",
) -> tuple[np.ndarray, np.ndarray]:
    """Sample `num_per_class` images of each class. Returns uint8 images (N, H, W, C) and their labels (N,).

    Sample j of class c has its own generator, seeded by (seed, c, j): results depend neither on
    `batch_size` nor on `num_per_class`, and every pipeline starts sample (c, j) from the same noise.
    """
    classes = [class_labels] if isinstance(class_labels, (int, str)) else list(class_labels)
    counts = {pipeline.class_id(c): num_per_class for c in classes}
    return sample_counts(pipeline, counts, guidance_scale, num_inference_steps, seed, batch_size, progress, desc, dtype)


def sample_counts(
    pipeline: ClassConditionalPipeline,
    counts: dict[int, int],
    guidance_scale: float | None = None,
    num_inference_steps: int | None = None,
    seed: int = 0,
    batch_size: int = 250,
    progress: bool = True,
    desc: str = "sampling",
    dtype: str = "fp32",
) -> tuple[np.ndarray, np.ndarray]:
    """Samples 0..n−1 of each class c in `counts` (c -> n), on the pipeline's device, as `sample_images`."""
    labels = np.array([c for c, n in counts.items() for _ in range(n)], dtype=np.int64)
    indices = [sample_index(c, j) for c, n in counts.items() for j in range(n)]
    was_disabled = getattr(pipeline, "_progress_bar_config", {}).get("disable", False)
    pipeline.set_progress_bar_config(disable=True)
    chunks = []
    try:
        with (
            tqdm(total=len(labels), desc=desc, unit="img", disable=not progress) as bar,
            sampling_autocast(pipeline, dtype),
        ):
            for start in range(0, len(labels), batch_size):
                batch_labels = labels[start : start + batch_size]
                generators = sample_generators(seed, indices[start : start + batch_size])
                images = pipeline(
                    batch_labels.tolist(),
                    guidance_scale=guidance_scale,
                    num_inference_steps=num_inference_steps,
                    generator=generators,
                    output_type="pt",
                ).images
                chunks.append(images_to_uint8(images))
                bar.update(len(batch_labels))
    finally:
        pipeline.set_progress_bar_config(disable=was_disabled)
    if not chunks:
        channels, height, width = pipeline.image_shape
        return np.zeros((0, height, width, channels), np.uint8), labels
    return np.concatenate(chunks), labels


def save_png(image: np.ndarray, path: str | os.PathLike) -> None:
    """Write one uint8 HWC image as PNG, atomically."""
    image = image[..., 0] if image.shape[-1] == 1 else image
    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG")


def make_grid(rows: Sequence[np.ndarray], padding: int = 2, pad_value: int = 255) -> np.ndarray:
    """Tile rows of uint8 HWC images (each row a (n, H, W, C) array) into one uint8 HWC image."""
    n_cols = max(len(r) for r in rows)
    height, width, channels = rows[0].shape[1:]
    grid = np.full(
        (len(rows) * (height + padding) + padding, n_cols * (width + padding) + padding, channels), pad_value, np.uint8
    )
    for i, row in enumerate(rows):
        for j, image in enumerate(row):
            top, left = padding + i * (height + padding), padding + j * (width + padding)
            grid[top : top + height, left : left + width] = image
    return grid


def save_samples(images: np.ndarray, labels: np.ndarray, output: str | os.PathLike) -> list[Path]:
    """Write each sample as `<output>/class<c>_<j>.png` (j counts within its class); returns the paths."""
    output = Path(output)
    counts: dict[int, int] = {}
    paths = []
    for image, label in zip(images, labels, strict=True):
        j = counts.get(int(label), 0)
        counts[int(label)] = j + 1
        path = output / f"class{int(label)}_{j:05d}.png"
        save_png(image, path)
        paths.append(path)
    return paths

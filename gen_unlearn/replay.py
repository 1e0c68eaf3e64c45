"""The pipeline's own samples as training data: data-free forget/remain sets and SA's generative replay.

Samples are drawn on the pipeline's device (in `bf16`/`fp16` if asked), once per (pipeline weights,
class counts, sampler settings, seed), and cached on disk as uint8 `.npy` under
`$GEN_UNLEARN_CACHE/samples/`; training streams them from there (memory-mapped), never as a float copy.
Budgets are totals: the remain budget is spread evenly over the remaining classes (with 1000 classes
and fewer samples than classes, a seeded choice of classes gets one each).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from pipelines import ClassConditionalPipeline

from .data import ForgetRemainSets, class_ids
from .images import ImageArray
from .io import atomic_path, cache_dir, fingerprint_pipeline, settings_key
from .sampling import DTYPES, sample_counts

logger = logging.getLogger(__name__)


@dataclass
class DataFreeConfig:
    """How many samples a data-free erase draws from the pipeline, and how.

    The defaults are what the shipped MNIST DDPM forgets with in 50 SFR-on steps (`README`): 64 samples
    of the forgotten class and 256 of the others, at the pipeline's own sampler settings.
    """

    forget: int = 64  # samples of the forget class
    # Samples of the remaining classes in all, spread evenly over them. 2,048 instead of 256 did not bring
    # SFR-on's remaining-class FID closer to the retrained model's (mnist-ddpm class 3, FID / retrained at
    # 50 and 100 steps: 1.48 and 1.35 with 2,048, 1.51 and 1.31 with 256; scripts/benchmark_methods.py
    # --data-free-remain, 20 samples per class), so the cheaper 256 stays.
    remain: int = 256
    num_inference_steps: int | None = None  # None: the pipeline's saved default
    guidance_scale: float | None = None  # None: the pipeline's saved default
    dtype: str = "fp32"  # fp32 | bf16 | fp16: sampling precision, independent of the training precision
    batch_size: int = 64  # images sampled at once

    def __post_init__(self) -> None:
        if self.forget < 1 or self.remain < 1:
            raise ValueError(f"data-free budgets must be at least 1, got forget {self.forget} and remain {self.remain}")
        if self.dtype not in DTYPES:
            raise ValueError(f"sampling dtype {self.dtype!r}: use one of {', '.join(DTYPES)}")
        if self.batch_size < 1:
            raise ValueError(f"the sampling batch size must be at least 1, got {self.batch_size}")


def spread(total: int, classes: Sequence[int], seed: int = 0) -> dict[int, int]:
    """`total` samples spread as evenly as possible over `classes` (c -> count, zero counts left out).

    The classes that get one more than the others are a seeded random choice.
    """
    classes = sorted(int(c) for c in classes)
    if not classes:
        raise ValueError("no classes to spread samples over")
    base, extra = divmod(total, len(classes))
    order = torch.randperm(len(classes), generator=torch.Generator().manual_seed(seed)).tolist()
    favoured = {classes[i] for i in order[:extra]}
    counts = {c: base + (c in favoured) for c in classes}
    return {c: n for c, n in counts.items() if n}


def generated_samples(
    pipeline: ClassConditionalPipeline,
    counts: dict[int, int],
    seed: int = 0,
    sampling: DataFreeConfig | None = None,
    fingerprint: str | None = None,
    progress: bool = True,
) -> ImageArray:
    """Samples 0..n−1 of each class c in `counts`, as a memory-mapped uint8 `ImageArray`, cached on disk.

    `sampling` gives the sampler settings (steps, guidance, dtype, batch size); its budgets are not used here.
    """
    sampling = sampling or DataFreeConfig()
    fingerprint = fingerprint or fingerprint_pipeline(pipeline)
    settings = {
        "counts": sorted((int(c), int(n)) for c, n in counts.items()),
        "seed": seed,
        "guidance_scale": sampling.guidance_scale,
        "num_inference_steps": sampling.num_inference_steps,
        "scheduler": type(pipeline.scheduler).__name__,
        "dtype": sampling.dtype,
    }
    if seed:  # samples cached under a seed ≠ 0 before `sample_seed` were seed 0's (on the CPU): not reused
        settings["seeding"] = 2
    key = settings_key(**settings)
    folder = cache_dir() / "samples" / fingerprint[:16]
    images_path, labels_path = folder / f"{key}.images.npy", folder / f"{key}.labels.npy"
    if not (images_path.exists() and labels_path.exists()):
        logger.info("drawing %d training samples on %s", sum(counts.values()), pipeline._execution_device)
        images, labels = sample_counts(
            pipeline,
            counts,
            sampling.guidance_scale,
            sampling.num_inference_steps,
            seed=seed,
            batch_size=sampling.batch_size,
            progress=progress,
            desc="generating training samples",
            dtype=sampling.dtype,
        )
        _save_npy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)), images_path)
        _save_npy(labels, labels_path)  # written last: its presence says the images are complete
    source = f"generated:{fingerprint[:16]}/{key}"
    return ImageArray(np.load(images_path, mmap_mode="r"), np.load(labels_path), source)


def _save_npy(array: np.ndarray, path: Path) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, array)


def data_free_forget_remain(
    pipeline: ClassConditionalPipeline,
    forget_class: int | str | Sequence[int | str],
    config: DataFreeConfig | None = None,
    seed: int = 0,
    fingerprint: str | None = None,
    progress: bool = True,
) -> ForgetRemainSets:
    """Forget and remain sets drawn from the pipeline itself: for users who have the model but not its data.

    With several forget classes, the forget budget is spread evenly over them, as the remain budget is over
    the other classes.
    """
    config = config or DataFreeConfig()
    classes = class_ids(pipeline, forget_class)
    others = [c for c in range(pipeline.num_classes) if c not in classes]
    counts = {**spread(config.forget, list(classes), seed), **spread(config.remain, others, seed)}
    images = generated_samples(pipeline, counts, seed, config, fingerprint, progress)
    images.source = f"data-free:{config.forget}-forget-{config.remain}-remain"
    return ForgetRemainSets(images, classes)

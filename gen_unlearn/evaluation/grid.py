"""Evaluation grids: a row per class, one block per pipeline, the same seeds in every block, the forgotten class marked.

Sample j of class c starts from the same noise in every pipeline (`sampling.sample_index`), so the block of
an erased pipeline lines up image by image with the block of the original.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from PIL.PngImagePlugin import PngInfo

from pipelines import ClassConditionalPipeline

from ..io import atomic_path, fingerprint_pipeline, library_versions
from ..sampling import make_grid, sample_images

PADDING = 2  # pixels between images, before scaling
BLOCK_GAP = 12  # pixels between the blocks of two pipelines
HEADER_HEIGHT = 18
MARK_COLOUR = (220, 30, 30)
TEXT_COLOUR = (20, 20, 20)
FORGOTTEN = "(forgotten)"


@dataclass
class Grid:
    """The grid image and the protocol that made it."""

    image: Image.Image
    protocol: dict[str, Any]

    def save(self, path: str | os.PathLike) -> None:
        """Write the PNG (protocol in its `gen_unlearn` text chunk) atomically."""
        info = PngInfo()
        info.add_text("gen_unlearn", json.dumps(self.protocol, default=str))
        with atomic_path(path) as tmp:
            self.image.save(tmp, format="PNG", pnginfo=info)


def block_size(rows: int, cols: int, height: int, width: int, scale: int) -> tuple[int, int]:
    """(width, height) in pixels of one pipeline's block of `rows` × `cols` images."""
    return (cols * (width + PADDING) + PADDING) * scale, (rows * (height + PADDING) + PADDING) * scale


MAX_DEFAULT_ROWS = 20


def default_grid_classes(num_classes: int, forget_id: int | None, seed: int = 0) -> list[int]:
    """Every class, or for more than 20 the forgotten class and 9 others (a seeded choice)."""
    if num_classes <= MAX_DEFAULT_ROWS:
        return list(range(num_classes))
    others = [c for c in range(num_classes) if c != forget_id]
    order = torch.randperm(len(others), generator=torch.Generator().manual_seed(seed)).tolist()
    chosen = sorted(others[i] for i in order[:9])
    return chosen if forget_id is None else [forget_id, *chosen]


def class_grid(
    pipelines: ClassConditionalPipeline | Sequence[ClassConditionalPipeline],
    labels: Sequence[str] | None = None,
    num_per_class: int = 8,
    classes: Sequence[int | str] | None = None,
    forget_class: int | str | None = None,
    seed: int = 0,
    num_inference_steps: int | None = None,
    guidance_scale: float | None = None,
    scale: int = 2,
    batch_size: int = 250,
    progress: bool = True,
) -> Grid:
    """Sample `num_per_class` images of each class from each pipeline and lay them out side by side.

    Rows are classes (all of them by default; for more than 20, the forgotten class and 9 others), columns the
    samples; each pipeline gets a block with its
    label above it. The forgotten class's row is framed and its name written in red.
    """
    pipelines = [pipelines] if isinstance(pipelines, ClassConditionalPipeline) else list(pipelines)
    if not pipelines:
        raise ValueError("no pipeline to draw")
    if num_per_class < 1 or scale < 1:
        raise ValueError("num_per_class and scale must be at least 1")
    labels = list(labels) if labels is not None else [f"pipeline {i}" for i in range(len(pipelines))]
    if len(labels) != len(pipelines):
        raise ValueError(f"{len(labels)} labels for {len(pipelines)} pipelines")
    first = pipelines[0]
    for other in pipelines[1:]:
        if other.num_classes != first.num_classes:
            raise ValueError("the pipelines to compare have different numbers of classes")
    forget_id = first.class_id(forget_class) if forget_class is not None else None
    if classes is None:
        classes = default_grid_classes(first.num_classes, forget_id, seed)
    class_ids = [first.class_id(c) for c in classes]

    blocks, image_heights = [], set()
    for label, pipeline in zip(labels, pipelines, strict=True):
        images, _ = sample_images(
            pipeline, class_ids, num_per_class, guidance_scale, num_inference_steps, seed, batch_size, progress, label
        )
        image_heights.add(images.shape[1])
        rows = [images[i * num_per_class : (i + 1) * num_per_class] for i in range(len(class_ids))]
        block = Image.fromarray(_rgb(make_grid(rows, padding=PADDING)))
        blocks.append(block.resize((block.width * scale, block.height * scale), Image.NEAREST))
    height, width = blocks[0].height, blocks[0].width
    if len(image_heights) > 1 or any(b.size != (width, height) for b in blocks):
        raise ValueError("the pipelines make images of different sizes: they cannot share a grid")
    image_height = image_heights.pop()

    font = ImageFont.load_default()
    draw_probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    names = [f"{c} {first.class_names[c]}" for c in class_ids]
    label_width = max(int(draw_probe.textlength(n, font=font)) for n in [*names, FORGOTTEN]) + 10
    canvas = Image.new(
        "RGB", (label_width + len(blocks) * width + (len(blocks) - 1) * BLOCK_GAP, HEADER_HEIGHT + height), "white"
    )
    draw = ImageDraw.Draw(canvas)
    for i, block in enumerate(blocks):
        left = label_width + i * (width + BLOCK_GAP)
        canvas.paste(block, (left, HEADER_HEIGHT))
        draw.text((left + 2, 3), labels[i], fill=TEXT_COLOUR, font=font)
    for row, (class_id, name) in enumerate(zip(class_ids, names, strict=True)):
        top = HEADER_HEIGHT + (PADDING + row * (image_height + PADDING)) * scale
        bottom = top + image_height * scale
        marked = class_id == forget_id
        draw.text((3, (top + bottom) // 2 - 5), name, fill=MARK_COLOUR if marked else TEXT_COLOUR, font=font)
        if marked:
            draw.text((3, (top + bottom) // 2 + 6), FORGOTTEN, fill=MARK_COLOUR, font=font)
            draw.rectangle((label_width - 3, top - 2, canvas.width - 1, bottom + 1), outline=MARK_COLOUR, width=2)

    protocol = {
        "pipelines": [
            {
                "label": label,
                "class": type(p).__name__,
                "sha256": fingerprint_pipeline(p),
                "sampler": type(p.scheduler).__name__,
                "num_inference_steps": int(num_inference_steps or p.config.get("default_num_inference_steps", 50)),
                "guidance_scale": float(
                    p.config.get("default_guidance_scale", 1.0) if guidance_scale is None else guidance_scale
                ),
            }
            for label, p in zip(labels, pipelines, strict=True)
        ],
        "classes": class_ids,
        "forget_class": forget_id,
        "num_per_class": num_per_class,
        "seed": seed,
        "seeding": "sample j of class c has its own generator seeded by (seed, c, j), the same in every pipeline",
        "scale": scale,
        "versions": library_versions(),
    }
    return Grid(canvas, protocol)


def _rgb(image: np.ndarray) -> np.ndarray:
    return np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image


__all__ = ["Grid", "block_size", "class_grid"]

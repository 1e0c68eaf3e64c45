"""On-disk cache of what the methods compute once per (pipeline, class, settings): masks and Fisher diagonals.

Under several processes the main process computes and writes first; the others then read its file.
What comes back is on the method's device, moved there once.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ..io import atomic_path, cache_dir, settings_key

Tensors = dict[str, torch.Tensor]


def cache_file(method, kind: str) -> Path | None:
    """Where `method`'s `kind` tensors live, or None when the pipeline has no fingerprint (no caching)."""
    if not getattr(method, "fingerprint", None):
        return None
    key = settings_key(
        method=method.name,
        kind=kind,
        forget_class=method.forget_class,
        data=method.data.source,
        batch_size=method.training.batch_size,
        seed=method.training.seed,
        config={k: v for k, v in asdict(method.config).items() if k.startswith(("fisher", "mask_", "saliency"))},
    )
    return cache_dir() / "masks" / method.fingerprint[:16] / f"{method.name}-{kind}-{key}.safetensors"


def cached_tensors(method, kind: str, compute: Callable[[], Tensors]) -> Tensors:
    """`compute()`'s tensors, read from the cache when they are there, on `method.device`."""
    path = cache_file(method, kind)
    trainer = getattr(method, "trainer", None)
    with trainer.accelerator.main_process_first() if trainer is not None else nullcontext():
        if path is not None and path.exists():
            device = method.device
            tensors = load_file(path, device="cpu" if device.type == "cpu" else str(device))
        else:
            tensors = compute()
            if path is not None and (trainer is None or trainer.accelerator.is_main_process):
                path.parent.mkdir(parents=True, exist_ok=True)
                with atomic_path(path) as tmp:
                    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp))
    return {k: v.to(method.device) for k, v in tensors.items()}

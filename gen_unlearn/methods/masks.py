"""On-disk cache of what the methods compute once per (pipeline, class, settings): Fisher diagonals, masks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ..data import cache_dir
from ..io import atomic_path, settings_key

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
        config={
            k: v for k, v in asdict(method.config).items() if k.startswith(("fisher", "mask_fraction", "saliency"))
        },
    )
    return cache_dir() / "masks" / method.fingerprint[:16] / f"{method.name}-{kind}-{key}.safetensors"


def cached_tensors(method, kind: str, compute: Callable[[], Tensors]) -> Tensors:
    path = cache_file(method, kind)
    if path is not None and path.exists():
        return load_file(path)
    tensors = compute()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp))
    return tensors


def cached_fisher_pair(method, kind: str, compute: Callable[[], tuple[Tensors, Tensors]]) -> tuple[Tensors, Tensors]:
    """A (forget, remain) pair of per-parameter tensors, cached together."""

    def flat() -> Tensors:
        first, second = compute()
        return {**{f"forget.{k}": v for k, v in first.items()}, **{f"remain.{k}": v for k, v in second.items()}}

    tensors = cached_tensors(method, kind, flat)
    forget = {k[len("forget.") :]: v for k, v in tensors.items() if k.startswith("forget.")}
    remain = {k[len("remain.") :]: v for k, v in tensors.items() if k.startswith("remain.")}
    return forget, remain
